import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { composeConfigPath, resolveChromium, resolveComposeConfig, TestToolError } from '../../stack';
import { executableStub } from '../support/files';

describe('test tool provisioning', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-test-tools-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('when CHROMIUM_PATH names an executable, then it is used as is and nothing is unpacked', () => {
    const chromium = executableStub(path.join(dir, 'my-chrome'));
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
    const cached = executableStub(composeConfigPath(dir));
    await expect(resolveComposeConfig({ path: '', cacheDir: dir })).resolves.toBe(cached);
  });
});
