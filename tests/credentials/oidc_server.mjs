// A real OAuth 2.0 authorization server (oidc-provider from npm) on loopback for the tests:
// client credentials with resource indicators (RFC 8707) and JWT access tokens per resource,
// and, given an identity provider to trust, RFC 8693 token exchange as an extra grant type.
//
//   node oidc_server.mjs CLIENT_ID CLIENT_SECRET RESOURCE "SCOPE ..." TTL_SECONDS ['{"issuer":
//     IDP_ISSUER, "jwks": IDP_JWKS}']
//
// Prints "listening <issuer>" once it accepts connections, and "issued {...}" (the scope and
// resource each token was asked for) after every token, so a test can check what was sent.
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:net";
import { createLocalJWKSet, jwtVerify } from "jose";
import { errors, Provider } from "oidc-provider";

const [clientId, clientSecret, resource, scopes, ttl, trusted] = process.argv.slice(2);
const idp = trusted ? JSON.parse(trusted) : null;
const TE = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT = "urn:ietf:params:oauth:token-type:access_token";
const resourceServer = {
  scope: scopes,
  audience: resource,
  accessTokenTTL: Number(ttl),
  accessTokenFormat: "jwt",
  jwt: { sign: { alg: "RS256" } },
};
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
      grant_types: idp ? ["client_credentials", TE] : ["client_credentials"],
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
        return resourceServer;
      },
    },
  },
  // An exchanged token names the human as its subject and the agent as its actor (RFC 8693
  // section 4.1); oidc-provider forces a client-credentials token's sub, so it is set here.
  extraTokenClaims: (ctx) => (ctx.exchanged ? { act: ctx.exchanged.act } : undefined),
  formats: {
    customizers: {
      jwt: (ctx, token, jwt) => {
        if (ctx?.exchanged) jwt.payload.sub = ctx.exchanged.sub;
        return jwt;
      },
    },
  },
});

if (idp) {
  const keys = createLocalJWKSet(idp.jwks);
  const parameters = ["subject_token", "subject_token_type", "actor_token", "actor_token_type",
    "requested_token_type", "scope", "resource", "audience"];
  provider.registerGrantType(TE, async (ctx) => {
    const { params, client } = ctx.oidc;
    if (params.subject_token_type !== AT) {
      throw new errors.InvalidRequest("subject_token_type must be an access token");
    }
    let subject;
    try {
      ({ payload: subject } = await jwtVerify(params.subject_token, keys, { issuer: idp.issuer }));
    } catch {
      throw new errors.InvalidRequest("subject_token is not a valid token of the trusted IdP");
    }
    const wanted = [...new Set([params.resource, params.audience].flat().filter(Boolean))];
    if (wanted.length !== 1 || wanted[0] !== resource) {
      throw new errors.InvalidTarget(`no resource server is known as ${wanted.join(", ")}`);
    }
    const allowed = scopes.split(" ");
    const scope = String(params.scope || "").split(" ").filter((s) => allowed.includes(s));
    const actor = { sub: subject.azp || subject.client_id };
    if (subject.act) actor.act = subject.act;
    ctx.exchanged = { sub: subject.sub, act: actor };
    const token = new provider.ClientCredentials({ client, scope: scope.join(" ") });
    token.resourceServer = new provider.ResourceServer(resource, resourceServer);
    ctx.body = {
      access_token: await token.save(),
      issued_token_type: AT,
      token_type: "Bearer",
      expires_in: token.expiration,
      scope: token.scope,
    };
  }, parameters, ["resource", "audience"]);
}
provider.on("server_error", (ctx, err) => console.error("server_error", err));
provider.on("grant.success", (ctx) => {
  const params = ctx.oidc.params || {};
  const asked = { scope: params.scope, resource: params.resource };
  if (ctx.exchanged) {
    // What the exchange was asked for and for whom; never the subject token itself.
    Object.assign(asked, { audience: params.audience, subject: ctx.exchanged.sub,
      actor_token: Boolean(params.actor_token) });
  }
  console.log("issued " + JSON.stringify(asked));
});
provider.listen(port, "127.0.0.1", () => console.log(`listening ${issuer}`));
