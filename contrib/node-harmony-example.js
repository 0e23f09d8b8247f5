// node-harmony-example.js: a node.js backend that registers with harmonyd
// over the ack port. It is not node-harmony's client: it re-implements, with
// node's `net` only, what that client (node-harmony's lib/client.js) sends,
// to show what travels on the wire; no npm install is needed.
//
//   node node-harmony-example.js [BALANCER[:ACKPORT]] [PORT]
//
// An existing node-harmony backend needs none of this: it keeps its own,
// unmodified client and its settings, and only needs harmonyd's address and
// ack port where it had node-harmony's (its "adminport"; harmonyd's
// --ack-port, 1666 by default, as in node-harmony). harmonyd speaks the
// same wire protocol, byte for byte.
//
// What it sends, as node-harmony's client does:
//
//   register   one connection: NID:: BAL:<weight>: SPORT:<port>:, then BYE:
//              once each message has its answer (NID:<key>: ...)
//   heartbeat  every `ack` ms, a new connection: ACK:<key>: ID:<key>:, BYE:
//   close      CLOSE:<key>: ID:<key>: (node-harmony never says BYE: here;
//              harmonyd's idle timeout closes that connection)
//   BID        (harmonyd does not know the key: it restarted without its
//              state file) -> register again on the next connection
//
// The backend itself answers every connection with one line naming itself.
// SIGTERM or SIGINT deregisters (harmonyd drains the target) and exits.
// Environment: HARMONY_WEIGHT (default 500), HARMONY_ACK_MS (default 30000).
'use strict';

const net = require('net');

const [balHost, balPort] = (() => {
  const arg = process.argv[2] || '127.0.0.1:1666';
  const i = arg.lastIndexOf(':');
  return i > 0 ? [arg.slice(0, i), Number(arg.slice(i + 1))] : [arg, 1666];
})();
const wantPort = Number(process.argv[3] || 0);
const weight = Number(process.env.HARMONY_WEIGHT || 500);
const ackMs = Number(process.env.HARMONY_ACK_MS || 30000);

let key = null;
let timer = null;

// One exchange on a new connection: send the messages, collect one answer
// per message (answers are VERB:ARG: pairs), then say BYE unless told not to.
function exchange(messages, bye = true) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(balPort, balHost);
    const answers = [];
    let rest = '';
    let done = false;
    sock.setTimeout(5000, () => sock.destroy(new Error('timed out')));
    sock.on('connect', () => sock.write(messages.join('')));
    sock.on('data', (chunk) => {
      const tokens = (rest + chunk.toString('latin1')).split(':');
      rest = tokens.pop();
      for (let i = 0; i < tokens.length; i++) {
        if (tokens[i] === '') continue;
        answers.push([tokens[i], tokens[i + 1]]);
        i++;
      }
      if (!done && answers.length >= messages.length) {
        done = true;
        if (bye) sock.end('BYE:');
        else sock.unref();
        resolve(answers);
      }
    });
    sock.on('error', reject);
    sock.on('close', () => reject(new Error('closed before all answers')));
  });
}

async function register(port) {
  const answers = await exchange(['NID::', `BAL:${weight}:`, `SPORT:${port}:`]);
  if (answers[0][0] !== 'NID') throw new Error(`unexpected answer ${answers[0]}`);
  key = answers[0][1];    // a secret: never print it
  console.log(`registered port ${port} (weight ${weight}) with ${balHost}:${balPort}`);
}

async function heartbeat(port) {
  try {
    if (key === null) return await register(port);
    const answers = await exchange([`ACK:${key}:`, `ID:${key}:`]);
    if (answers.some(([verb]) => verb === 'BID')) {
      console.log('balancer does not know us (restarted?): registering again');
      key = null;
      await register(port);
    }
  } catch (err) {
    console.error(`heartbeat: ${err.message}`);
  }
}

async function close() {
  clearInterval(timer);
  if (key !== null) {
    try {
      await exchange([`CLOSE:${key}:`, `ID:${key}:`], false);
      console.log('deregistered');
    } catch (err) {
      console.error(`close: ${err.message}`);
    }
  }
  process.exit(0);
}

const server = net.createServer((sock) => {
  sock.end(`hello from node on port ${server.address().port}\n`);
  sock.on('error', () => {});
});

server.listen(wantPort, '127.0.0.1', async () => {
  const port = server.address().port;
  console.log(`listening on 127.0.0.1:${port}`);
  await heartbeat(port);
  timer = setInterval(() => heartbeat(port), ackMs);
});

process.on('SIGTERM', close);
process.on('SIGINT', close);
