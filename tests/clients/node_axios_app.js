// A third-party-style app: hard-coded https gateway URLs, axios (which reads HTTPS_PROXY itself). Knows nothing
// of flux-mock. Run from tests/node, where axios is installed.
const axios = require("axios");
const KEY = { "Ocp-Apim-Subscription-Key": "app-key" };

async function main() {
  const job = (await axios.post("https://gateway.pixazo.ai/flux-dev/v1/dev/textToImage", { prompt: "a lighthouse" },
                                { headers: KEY })).data;
  let status;
  for (let i = 0; i < 200; i++) {
    status = (await axios.get(job.polling_url, { headers: KEY })).data;
    if (status.status === "COMPLETED") break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const image = Buffer.from((await axios.get(status.output.media_url[0], { responseType: "arraybuffer" })).data);
  if (image.subarray(0, 8).toString("hex") !== "89504e470d0a1a0a") throw new Error("not a PNG");
  console.log("IMAGE", status.output.media_url[0], image.length);
}
main().catch((error) => { console.error(error.message, error.response && error.response.status); process.exit(1); });
