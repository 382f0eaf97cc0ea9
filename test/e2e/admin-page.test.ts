/**
 * The operator page (relay `/admin.html`) in headless Chromium against the real stack (API + worker + relay): a stock
 * adjustment shows up live in the stock table and a low-stock warning marks the row; an export's progress bar fills
 * from `export.progress` and offers the download once complete. DEMO_SCREENSHOT=<path> saves a screenshot at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort } from '../../stack';
import { createApiHarness, type ApiHarness } from '../support/api-helpers';
import { chromiumPath, insertProducts, uniqueSku } from '../support/services';
import { startRelay, type TestRelay } from '../integration/realtime.support';

describe('operator page', () => {
  const exportsDir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-admin-page-'));
  let h: ApiHarness;
  let relay: TestRelay;
  let browser: Browser;
  let page: Page;
  let sku: string;

  beforeAll(async () => {
    const port = await freePort();
    h = await createApiHarness({ env: { CORS_ORIGINS: `http://127.0.0.1:${port}`, EXPORTS_DIR: exportsDir } });
    relay = await startRelay(h.config, h.db, { port });
    sku = uniqueSku('admin-page');
    await insertProducts(h.db, [{ sku, stock: 10, priceCents: 1999, name: 'Operator mug', lowStockThreshold: 5 }]);
    browser = await chromium.launch({
      executablePath: chromiumPath(),
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    await page.goto(`${relay.url}/admin.html?api=${encodeURIComponent(h.baseUrl)}`);
    await page.locator(`#stock tr[data-sku="${sku}"]`).waitFor();
    await page.locator('#connection.pill-on').waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await relay?.close();
    await h?.close();
    rmSync(exportsDir, { recursive: true, force: true });
  });

  test('when stock is adjusted below the threshold, then the row shows the new stock live and is flagged low', async () => {
    const row = page.locator(`#stock tr[data-sku="${sku}"]`);
    await page.selectOption('#adjust-sku', sku);
    await page.fill('#adjust-delta', '-6');
    await page.fill('#adjust-reason', 'breakage');
    await page.click('#adjust');
    await row.locator('[data-role=stock]', { hasText: /^4$/ }).waitFor();
    await page.locator(`#stock tr.low[data-sku="${sku}"]`).waitFor();
    expect(await row.locator('[data-role=last]').textContent()).toBe('adjustment -6');
    await page.locator('#events li.warn', { hasText: `product.low_stock ${sku}` }).waitFor();
  });

  test('when an export is started, then its progress bar fills live and the download is offered', async () => {
    await page.click('#export');
    await page.locator('#export-state[data-status="completed"]').waitFor({ timeout: 30_000 });
    expect(await page.locator('#export-progress').evaluate((el) => (el as unknown as { value: number }).value)).toBe(1);
    expect(await page.locator('#export-download').isVisible()).toBe(true);
    await page.locator('#events li', { hasText: 'export.progress' }).first().waitFor();
    if (process.env.DEMO_SCREENSHOT) await page.screenshot({ path: process.env.DEMO_SCREENSHOT, fullPage: true });
  });
});
