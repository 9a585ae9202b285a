// The graphql-http conformance audits (GraphQL over HTTP spec) against a running server:
// exits 1 when any audit is not "ok", printing each with its reason.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
const results = await auditServer({ url });
const problems = results.filter((result) => result.status !== 'ok');
for (const result of problems) {
  console.log(`${result.status} ${result.id} ${result.name}: ${result.reason}`);
}
console.log(`graphql-http audit of ${url}: ${results.length - problems.length} of ${results.length} ok`);
process.exit(problems.length ? 1 : 0);
