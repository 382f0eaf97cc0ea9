import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { composeConfigPath, resolveChromium, resolveComposeConfig, TestToolError } from '../../stack';

/** Writes an executable stub and returns its path. */
function executable(file: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '#!/bin/sh\nexit 0\n');
  chmodSync(file, 0o755);
  return file;
}

describe('test tool provisioning', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-test-tools-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('when CHROMIUM_PATH names an executable, then it is used as is and nothing is unpacked', () => {
    const chromium = executable(path.join(dir, 'my-chrome'));
    const cacheDir = path.join(dir, 'cache');
    expect(resolveChromium({ chromiumPath: chromium, cacheDir })).toBe(chromium);
    expect(existsSync(cacheDir)).toBe(false);
  });

  it('when CHROMIUM_PATH is not executable, then provisioning fails naming it', () => {
    const missing = path.join(dir, 'missing');
    expect(() => resolveChromium({ chromiumPath: missing, cacheDir: dir })).toThrow(TestToolError);
    expect(() => resolveChromium({ chromiumPath: missing, cacheDir: dir })).toThrow(`CHROMIUM_PATH=${missing}`);
  });

  it('when the Compose loader for the current sources is cached, then it is used without Go', async () => {
    const cached = executable(composeConfigPath(dir));
    await expect(resolveComposeConfig({ path: '', cacheDir: dir })).resolves.toBe(cached);
  });
});
