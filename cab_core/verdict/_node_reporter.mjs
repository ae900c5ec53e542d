// cab's node:test reporter: one line per test outcome, written to the destination the
// harness names.  node runs each test file in a child process and this reporter in the
// parent, so code under test never runs beside it.  At load (before any child starts)
// it reads and deletes the nonce file; the final `end` line carries an HMAC of every
// line above it, keyed by the nonce, so a report extended or rewritten by a child does
// not verify.  Test ids are `<file relative to the cwd>::<name> > <subtest name>`.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

let key = '';
const nonceFile = process.env.CAB_VERDICT_NONCE;
if (nonceFile) {
  try { key = fs.readFileSync(nonceFile, 'utf8').trim(); fs.unlinkSync(nonceFile); } catch { key = ''; }
}

export default async function * cabReporter(source) {
  const stacks = new Map();
  const hmac = crypto.createHmac('sha256', key);
  let count = 0;
  const emit = (record) => {
    const line = JSON.stringify(record) + '\n';
    hmac.update(line);
    count += 1;
    return line;
  };
  for await (const event of source) {
    const data = event.data || {};
    const file = data.file ? path.relative(process.cwd(), data.file) : '<unknown>';
    if (event.type === 'test:start') {
      const stack = stacks.get(file) || [];
      stack.length = data.nesting;
      stack.push(data.name);
      stacks.set(file, stack);
    } else if (event.type === 'test:pass' || event.type === 'test:fail') {
      const stack = (stacks.get(file) || []).slice(0, data.nesting);
      const id = `${file}::${[...stack, data.name].join(' > ')}`;
      let outcome = event.type === 'test:pass' ? 'passed' : 'failed';
      if (data.skip !== undefined && data.skip !== false) outcome = 'skipped';
      if (data.todo !== undefined && data.todo !== false) outcome = 'skipped';
      yield emit({ id, outcome, nesting: data.nesting });
    }
  }
  yield JSON.stringify({ end: true, count, mac: hmac.digest('hex') }) + '\n';
}
