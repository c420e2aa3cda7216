// A loopback OpenID Provider for smtpcm's OAuth2 integration tests, built on oidc-provider
// (a certified OpenID Provider implementation). Started by scripts/servers/oidc.sh.
//
// Enabled: client credentials, refresh tokens with rotation, the device flow, token
// introspection (Dovecot's oauth2 passdb validates tokens through it) and revocation.
// Interactions (login + consent) are handled below: the test user logs in with a fixed
// password through a real HTML form, and consent is granted for what the client asked.
//
// Environment (all set by oidc.sh):
//   OIDC_PORT                 port on 127.0.0.1
//   OIDC_CLIENT_SECRET        secret of client "smtpcm" (all grants)
//   OIDC_SHORT_CLIENT_SECRET  secret of client "smtpcm-short": its access tokens live
//                             OIDC_SHORT_TTL_SECONDS, but the token response advertises one
//                             hour, as a provider with a skewed clock would; the client's
//                             cache keeps the token and the SMTP server rejects it once expired
//   OIDC_DOVECOT_SECRET       secret of client "dovecot" (introspection only)
//   OIDC_USER, OIDC_USER_PASSWORD, OIDC_USER_EMAIL   the one test account
//   OIDC_ACCESS_TOKEN_TTL     access-token lifetime of the other clients (seconds, default 600)
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') {
    console.error(`provider.js: ${name} is not set`);
    process.exit(2);
  }
  return value;
};

const port = Number(env('OIDC_PORT'));
const issuer = `http://127.0.0.1:${port}`;
const shortTtl = Number(env('OIDC_SHORT_TTL_SECONDS', '3'));
const accessTtl = Number(env('OIDC_ACCESS_TOKEN_TTL', '600'));
const user = env('OIDC_USER', 'alice');
const userPassword = env('OIDC_USER_PASSWORD');
const userEmail = env('OIDC_USER_EMAIL', 'alice@test.local');

const smtpGrants = [
  'client_credentials',
  'refresh_token',
  'urn:ietf:params:oauth:grant-type:device_code',
];
const smtpClient = (clientId, secret) => ({
  client_id: clientId,
  client_secret: secret,
  grant_types: smtpGrants,
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: 'client_secret_post',
  scope: 'openid offline_access smtp',
});

const ttlFor = (_ctx, _token, client) => (client?.clientId === 'smtpcm-short' ? shortTtl : accessTtl);

const configuration = {
  clients: [
    smtpClient('smtpcm', env('OIDC_CLIENT_SECRET')),
    smtpClient('smtpcm-short', env('OIDC_SHORT_CLIENT_SECRET')),
    {
      client_id: 'dovecot',
      client_secret: env('OIDC_DOVECOT_SECRET'),
      grant_types: [],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  scopes: ['openid', 'offline_access', 'smtp'],
  claims: { openid: ['sub'], email: ['email'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    revocation: { enabled: true, allowedPolicy: async () => true },
  },
  // Every grant that may issue one gets a refresh token (no offline_access dance), and
  // every refresh rotates it: the old one stops working at once.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: {
    AccessToken: ttlFor,
    ClientCredentials: ttlFor,
    DeviceCode: 600,
    RefreshToken: 86400,
    Grant: 86400,
    Interaction: 600,
    Session: 86400,
  },
  // The mailbox the token is for: Dovecot's passdb compares it with the SMTP user name.
  extraTokenClaims: async () => ({ email: userEmail }),
  findAccount: async (_ctx, sub) =>
    sub === user ? { accountId: sub, claims: async () => ({ sub, email: userEmail }) } : undefined,
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: [randomUUID()] },
  jwks: undefined,
};

const provider = new Provider(issuer, configuration);
provider.proxy = false;

// A refused grant is logged so a failing test can show why.
provider.on('grant.error', (_ctx, err) => console.error(`grant.error: ${err.name}: ${err.error_description ?? err.message}`));
provider.on('server_error', (_ctx, err) => console.error(`server_error: ${err.stack}`));

// smtpcm-short: advertise a long lifetime for a token that expires in OIDC_SHORT_TTL_SECONDS.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.oidc?.client?.clientId === 'smtpcm-short' && ctx.body) {
    ctx.body = { ...ctx.body, expires_in: 3600 };
  }
});

const page = (title, body) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;

const readForm = (req) =>
  new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      data += chunk;
      if (data.length > 65536) reject(new Error('form too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(data)));
    req.on('error', reject);
  });

// Login and consent for the device flow: a form with login and password; on success the
// session logs in the test user and a grant covers every scope the client requested.
async function interaction(req, res) {
  try {
    const details = await provider.interactionDetails(req, res);
    const { uid, params } = details;
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page('Sign-in', `<form id="login" method="post" action="/interaction/${uid}/login">
<input name="login" autofocus><input name="password" type="password"><button type="submit">Sign in</button></form>`));
      return;
    }
    const form = await readForm(req);
    if (form.get('login') !== user || form.get('password') !== userPassword) {
      res.writeHead(403, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page('Sign-in', '<p>wrong login or password</p>'));
      return;
    }
    const grant = new provider.Grant({ accountId: user, clientId: params.client_id });
    grant.addOIDCScope(String(params.scope ?? ''));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { login: { accountId: user }, consent: { grantId } }, {
      mergeWithLastSubmission: false,
    });
  } catch (err) {
    console.error(`interaction failed: ${err.stack}`);
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${err.message}\n`);
  }
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res);
  } else {
    callback(req, res);
  }
});
server.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
