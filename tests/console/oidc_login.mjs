// A real OpenID Provider (oidc-provider from npm) on loopback for the console's sign-in test:
// authorization code with PKCE (S256 required) for one confidential client, ID tokens with a
// `tenant` claim, and oidc-provider's own login and consent pages (devInteractions), which the
// browser test fills in as a person would. Any login name signs in; its tenant is the part
// after "@" up to the first ".", so "bob@acme.example" belongs to tenant "acme".
//
//   node oidc_login.mjs CLIENT_ID CLIENT_SECRET REDIRECT_URI
//
// Prints "listening <issuer>" once it accepts connections.
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:net";
import { Provider } from "oidc-provider";

const [clientId, clientSecret, redirectUri] = process.argv.slice(2);
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });

const port = await new Promise((resolve) => {
  const probe = createServer().listen(0, "127.0.0.1", () => {
    const { port: free } = probe.address();
    probe.close(() => resolve(free));
  });
});
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  jwks: { keys: [{ ...rsa, use: "sig", alg: "RS256", kid: "login-1" }] },
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ["authorization_code"],
      response_types: ["code"],
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  pkce: { required: () => true, methods: ["S256"] },
  claims: { openid: ["sub"], tenant: ["tenant"] },
  scopes: ["openid", "tenant"],
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  findAccount: (ctx, id) => ({
    accountId: id,
    claims: () => ({ sub: id, tenant: (id.split("@")[1] || "").split(".")[0] }),
  }),
});
provider.proxy = false;
provider.listen(port, "127.0.0.1", () => console.log(`listening ${issuer}`));
