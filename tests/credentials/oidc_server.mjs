// A real OAuth 2.0 authorization server (oidc-provider from npm) on loopback for the tests:
// client credentials with resource indicators (RFC 8707) and JWT access tokens per resource.
//
//   node oidc_server.mjs CLIENT_ID CLIENT_SECRET RESOURCE "SCOPE ..." TTL_SECONDS
//
// Prints "listening <issuer>" once it accepts connections, and "issued {...}" (the scope and
// resource each token was asked for) after every token, so a test can check what was sent.
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:net";
import { Provider } from "oidc-provider";

const [clientId, clientSecret, resource, scopes, ttl] = process.argv.slice(2);
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });

// The issuer names its port, so find a free one on loopback first.
const port = await new Promise((resolve) => {
  const probe = createServer().listen(0, "127.0.0.1", () => {
    const { port: free } = probe.address();
    probe.close(() => resolve(free));
  });
});
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  jwks: { keys: [{ ...rsa, use: "sig", alg: "RS256", kid: "k1" }] },
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ["client_credentials"],
      response_types: [],
      redirect_uris: [],
    },
  ],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (indicator !== resource) {
          throw new Error(`unknown resource ${indicator}`);
        }
        return {
          scope: scopes,
          audience: resource,
          accessTokenTTL: Number(ttl),
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: "RS256" } },
        };
      },
    },
  },
});
provider.on("server_error", (ctx, err) => console.error("server_error", err));
provider.on("grant.success", (ctx) => {
  const params = ctx.oidc.params || {};
  console.log("issued " + JSON.stringify({ scope: params.scope, resource: params.resource }));
});
provider.listen(port, "127.0.0.1", () => console.log(`listening ${issuer}`));
