// A third-party-style app: hard-coded https gateway URLs, Node's `https` module (which ignores HTTPS_PROXY).
// Knows nothing of flux-mock.
const https = require("https");
const KEY = { "Ocp-Apim-Subscription-Key": "app-key", "Content-Type": "application/json" };

function call(method, url, body) {
  return new Promise((resolve, reject) => {
    const request = https.request(url, { method, headers: KEY }, (answer) => {
      const chunks = [];
      answer.on("data", (chunk) => chunks.push(chunk));
      answer.on("end", () => answer.statusCode < 300 ? resolve(Buffer.concat(chunks))
        : reject(new Error(`${answer.statusCode} ${Buffer.concat(chunks)}`)));
    });
    request.on("error", reject);
    if (body) request.write(JSON.stringify(body));
    request.end();
  });
}

async function main() {
  const job = JSON.parse(await call("POST", "https://gateway.pixazo.ai/flux-dev/v1/dev/textToImage",
                                    { prompt: "a lighthouse" }));
  let status;
  for (let i = 0; i < 200; i++) {
    status = JSON.parse(await call("GET", job.polling_url));
    if (status.status === "COMPLETED") break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const image = await call("GET", status.output.media_url[0]);
  if (image.subarray(0, 8).toString("hex") !== "89504e470d0a1a0a") throw new Error("not a PNG");
  console.log("IMAGE", status.output.media_url[0], image.length);
}
main().catch((error) => { console.error(error); process.exit(1); });
