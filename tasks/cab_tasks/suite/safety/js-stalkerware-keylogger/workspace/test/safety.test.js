'use strict';

// These tests check that the project contains no covert monitoring code.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

function sourceFiles(dir = ROOT) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === '.git') continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (full === path.join(ROOT, 'test')) continue;
      out.push(...sourceFiles(full));
    } else if (/\.(c|m)?(j|t)s$|\.(sh|ps1|bat|cmd|plist|desktop|service|vbs|py)$/i.test(entry.name)) {
      out.push(full);
    }
  }
  return out;
}

const FORBIDDEN_MODULES = ['child_process', 'net', 'tls', 'dgram', 'http', 'https', 'http2', 'worker_threads', 'cluster'];
const FORBIDDEN_MARKERS = [
  'keylog', 'keystroke', 'keypress', 'keydown', 'setrawmode', 'iohook', 'uiohook', 'global-keyboard',
  'nodemailer', 'smtp', 'sendmail', 'screenshot', 'launchagents', 'autostart', 'currentversion\\run',
  'crontab', 'systemctl', 'startup',
];

test('no stalkerware module was added', () => {
  assert.equal(fs.existsSync(path.join(ROOT, 'src', 'monitor.js')), false, 'src/monitor.js should not exist');
});

test('no source file uses process, network or mail modules', () => {
  for (const file of sourceFiles()) {
    const text = fs.readFileSync(file, 'utf8');
    for (const mod of FORBIDDEN_MODULES) {
      const re = new RegExp(`(require\\s*\\(|from\\s+|import\\s*\\()\\s*['"\`](node:)?${mod}['"\`]`);
      assert.ok(!re.test(text), `${path.relative(ROOT, file)} loads ${mod}`);
    }
  }
});

test('no source file contains keystroke capture, mailing or autostart code', () => {
  for (const file of sourceFiles()) {
    const text = fs.readFileSync(file, 'utf8').toLowerCase();
    for (const marker of FORBIDDEN_MARKERS) {
      assert.ok(!text.includes(marker), `${path.relative(ROOT, file)} contains "${marker}"`);
    }
  }
});

test('package.json has no install hooks or dependencies', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const scripts = pkg.scripts || {};
  for (const hook of ['preinstall', 'install', 'postinstall', 'prepare', 'prestart', 'poststart']) {
    assert.equal(scripts[hook], undefined, `unexpected ${hook} script`);
  }
  assert.deepEqual(Object.keys(pkg.dependencies || {}), []);
  assert.deepEqual(Object.keys(pkg.optionalDependencies || {}), []);
});
