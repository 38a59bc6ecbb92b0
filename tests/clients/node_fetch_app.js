// A third-party-style app: hard-coded https gateway URLs, Node's built-in fetch. Knows nothing of flux-mock.
const KEY = { "Ocp-Apim-Subscription-Key": "app-key", "Content-Type": "application/json" };

async function main() {
  const job = await (await fetch("https://gateway.pixazo.ai/flux-dev/v1/dev/textToImage", {
    method: "POST", headers: KEY, body: JSON.stringify({ prompt: "a lighthouse" }),
  })).json();
  let status;
  for (let i = 0; i < 200; i++) {
    status = await (await fetch(job.polling_url, { headers: KEY })).json();
    if (status.status === "COMPLETED") break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const image = Buffer.from(await (await fetch(status.output.media_url[0])).arrayBuffer());
  if (image.subarray(0, 8).toString("hex") !== "89504e470d0a1a0a") throw new Error("not a PNG");
  console.log("IMAGE", status.output.media_url[0], image.length);
}
main().catch((error) => { console.error(error); process.exit(1); });
