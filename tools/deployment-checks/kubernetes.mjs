// Checks rendered Kubernetes manifests without a cluster:
//   kubectl kustomize k8s/overlays/production | node tools/deployment-checks/kubernetes.mjs
// Every object is validated against the JSON schema of its apiVersion and kind (Kubernetes itself, KEDA,
// Prometheus Operator, External Secrets); an unknown kind is an error, not a pass. Then the rules a schema
// cannot say: probes, requests and limits, a non-root and read-only container, a pinned image.
// Built-in kinds are also checked for unknown fields (a misspelt "maxUnavailabel" the schemas would let
// through), as the API server's strict field validation does, from the typed models of the official client.
// Prints "ok <kind>/<name>" per object, or what is wrong; exits 1 on any error.
import fs from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';

// Where each API group's models live: the group's path inside the first package that has it.
const packages = ['kubernetes-models', '@kubernetes-models/keda', '@kubernetes-models/prometheus-operator', '@kubernetes-models/external-secrets'];

async function modelOf(apiVersion, kind) {
  const path = apiVersion.includes('/') ? apiVersion : `v1`;
  for (const pkg of packages) {
    try {
      const module = await import(`${pkg}/${path}`);
      if (module[kind]) return module[kind];
    } catch (e) {
      if (!["ERR_MODULE_NOT_FOUND", "ERR_PACKAGE_PATH_NOT_EXPORTED", "MODULE_NOT_FOUND"].includes(e.code)) throw e;
    }
  }
  return null;
}

// The official client's model of a built-in kind: V1Deployment for apps/v1, V2HorizontalPodAutoscaler for autoscaling/v2.
function typeOf(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const builtIn = group === '' || !group.includes('.') || group.endsWith('.k8s.io');
  const type = `${version[0].toUpperCase()}${version.slice(1)}${kind}`;
  return builtIn && k8s[type]?.getAttributeTypeMap ? type : null;
}

function unknownFields(value, type, path, problems) {
  if (value == null || typeof value !== 'object') return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    value.forEach((item, i) => unknownFields(item, array[1], `${path}/${i}`, problems));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    for (const [key, item] of Object.entries(value)) unknownFields(item, map[1], `${path}/${key}`, problems);
    return;
  }
  const fields = k8s[type]?.getAttributeTypeMap?.();
  if (!fields) return;
  const known = new Map(fields.map((f) => [f.baseName, f.type]));
  for (const [key, item] of Object.entries(value)) {
    if (!known.has(key)) problems.push(`${path}/${key} is not a field of ${type}`);
    else unknownFields(item, known.get(key), `${path}/${key}`, problems);
  }
}

function deploymentRules(deployment) {
  const problems = [];
  const pod = deployment.spec?.template?.spec ?? {};
  if (pod.securityContext?.runAsNonRoot !== true) problems.push('pod securityContext.runAsNonRoot is not true');
  for (const container of pod.containers ?? []) {
    const where = `container ${container.name}`;
    if (!container.livenessProbe) problems.push(`${where} has no livenessProbe`);
    if (!container.readinessProbe) problems.push(`${where} has no readinessProbe`);
    for (const kind of ['requests', 'limits']) {
      for (const resource of ['cpu', 'memory']) {
        if (!container.resources?.[kind]?.[resource]) problems.push(`${where} has no resources.${kind}.${resource}`);
      }
    }
    if (container.securityContext?.allowPrivilegeEscalation !== false) problems.push(`${where} allows privilege escalation`);
    if (container.securityContext?.readOnlyRootFilesystem !== true) problems.push(`${where} has a writable root file system`);
    if (!(container.securityContext?.capabilities?.drop ?? []).includes('ALL')) problems.push(`${where} keeps Linux capabilities`);
    const tag = container.image?.includes('@') ? 'digest' : container.image?.split('/').pop().split(':')[1];
    if (!tag || tag === 'latest') problems.push(`${where} image ${container.image} is not pinned to a tag or digest`);
  }
  return problems;
}

const text = process.argv.length > 2
  ? process.argv.slice(2).map((file) => fs.readFileSync(file, 'utf8')).join('\n---\n')
  : fs.readFileSync(0, 'utf8');

let failed = false;
let count = 0;
for (const document of YAML.parseAllDocuments(text)) {
  if (document.errors.length > 0) {
    console.log(`error: not YAML: ${document.errors[0].message}`);
    failed = true;
    continue;
  }
  const object = document.toJS();
  if (object == null) continue;
  count++;
  const name = `${object.kind}/${object.metadata?.name}`;
  const Model = object.apiVersion && object.kind ? await modelOf(object.apiVersion, object.kind) : null;
  if (!Model) {
    console.log(`error ${name}: no schema for apiVersion ${object.apiVersion}, kind ${object.kind}`);
    failed = true;
    continue;
  }

  const problems = [];
  try {
    new Model(object).validate();
  } catch (e) {
    for (const error of e.errors ?? [{ instancePath: '', message: e.message }]) {
      problems.push(`${error.instancePath || '/'} ${error.message}${error.params?.additionalProperty ? ` (${error.params.additionalProperty})` : ''}`);
    }
  }
  const type = typeOf(object.apiVersion, object.kind);
  if (type) unknownFields(object, type, '', problems);
  if (object.kind === 'Deployment') problems.push(...deploymentRules(object));

  if (problems.length === 0) {
    console.log(`ok ${name}`);
  } else {
    failed = true;
    for (const problem of problems) console.log(`error ${name}: ${problem}`);
  }
}

if (count === 0) {
  console.log('error: no objects');
  failed = true;
}
process.exit(failed ? 1 : 0);
