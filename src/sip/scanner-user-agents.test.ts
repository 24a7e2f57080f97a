import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SCANNER_USER_AGENTS, scannerAgentIn } from './scanner-user-agents.ts';
import { formatHostPort, hostForHeader } from './host-port.ts';

test('scanning tools are recognised by User-Agent, in any case; monitoring tools are not', () => {
  assert.equal(scannerAgentIn('friendly-scanner'), 'friendly-scanner');
  assert.equal(scannerAgentIn('SIPVicious/0.3.4'), 'sipvicious');
  assert.equal(scannerAgentIn('VaxSIPUserAgent/3.1'), 'vaxsipuseragent');
  for (const monitor of [
    'sipsak 0.9.8.1',
    'SIPp/Linux',
    'check_sip/1.0',
    'Linphone/5.2',
    'baresip v3',
  ]) {
    assert.equal(scannerAgentIn(monitor), undefined, monitor);
  }
  assert.ok(
    SCANNER_USER_AGENTS.every((s) => s === s.toLowerCase()),
    'entries are lower case',
  );
  assert.equal(scannerAgentIn('Friendly-Scanner', []), undefined, 'an empty list matches nothing');
});

test('host and port text: IPv6 literals bracketed once', () => {
  assert.equal(formatHostPort('::1', 5060), '[::1]:5060');
  assert.equal(formatHostPort('[::1]', 5060), '[::1]:5060');
  assert.equal(formatHostPort('192.0.2.1', 5060), '192.0.2.1:5060');
  assert.equal(formatHostPort('pbx.example.com', 5061), 'pbx.example.com:5061');
  assert.equal(hostForHeader('2001:db8::1'), '[2001:db8::1]');
});
