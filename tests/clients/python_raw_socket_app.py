"""A third-party-style app that ignores every variable but the CA: its own socket and TLS to gateway.pixazo.ai:443,
HTTP written by hand. Knows nothing of flux-mock; only a network where that name is the mock reaches it."""
import json
import socket
import ssl

body = json.dumps({"prompt": "a lighthouse"}).encode()
head = (b"POST /flux-1-schnell/v1/getData HTTP/1.1\r\nHost: gateway.pixazo.ai\r\nConnection: close\r\n"
        b"Ocp-Apim-Subscription-Key: app-key\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n")
context = ssl.create_default_context()
with socket.create_connection(("gateway.pixazo.ai", 443), timeout=30) as raw, \
        context.wrap_socket(raw, server_hostname="gateway.pixazo.ai") as tls:
    tls.sendall(head % len(body) + body)
    answer = b""
    while chunk := tls.recv(65536):
        answer += chunk
status_line, _, rest = answer.partition(b"\r\n")
assert status_line.startswith(b"HTTP/1.1 200"), status_line
print("IMAGE", json.loads(rest.partition(b"\r\n\r\n")[2])["output"])
