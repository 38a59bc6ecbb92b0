// Preloaded with `node --require`: route the built-in fetch through HTTPS_PROXY / HTTP_PROXY (undici's
// EnvHttpProxyAgent), as Node does not on its own. The app's code stays unchanged.
const { setGlobalDispatcher, EnvHttpProxyAgent } = require("undici");
setGlobalDispatcher(new EnvHttpProxyAgent());
