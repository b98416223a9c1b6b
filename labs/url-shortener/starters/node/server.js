// {{lab_title}}: your service. It answers GET {{health}} and nothing else yet.
//
// labctl starts it with PORT and the URLs of its dependencies in the environment (see README.md).
"use strict";

const http = require("node:http");

const PORT = Number(process.env.PORT || 8080);
const DATABASE_URL = process.env.DATABASE_URL || ""; // postgresql://...: store your links here
const REDIS_URL = process.env.REDIS_URL || ""; // redis://...: optional, a cache if you want one

function answer(res, status, body) {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": data.length });
  res.end(data);
}

async function handle(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk); // the body: JSON.parse(Buffer.concat(chunks))
  if (req.method === "GET" && req.url === "{{health}}") {
    return answer(res, 200, { status: "ok" });
  }
  // Start here: stage `{{first_stage}}`, {{first_stage_title}}.
  return answer(res, 404, { error: `no route for ${req.method} ${req.url}` });
}

const server = http.createServer((req, res) => {
  const started = process.hrtime.bigint();
  res.on("finish", () => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    console.log(`${req.method} ${req.url} ${res.statusCode} ${ms.toFixed(1)}ms`); // labctl shows these
  });
  handle(req, res).catch((err) => {
    console.error(err);
    answer(res, 500, { error: "internal error" });
  });
});

// SIGTERM is how labctl stops the service: stop accepting, finish what was accepted, exit 0.
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  });
}

server.listen(PORT, "0.0.0.0", () => console.log(`listening on 0.0.0.0:${PORT}`));
