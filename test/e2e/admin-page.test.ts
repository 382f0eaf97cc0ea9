/**
 * The operator page (relay `/admin.html`) in headless Chromium against the real stack (API + worker + relay): a stock
 * adjustment shows up live in the stock table and a low-stock warning marks the row; an export's progress bar fills
 * from `export.progress` and offers the download once complete. DEMO_SCREENSHOT=<path> saves a screenshot at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { insertProducts, uniqueSku } from '../support/services';
import { openBrowserStack, screenshotIfAsked, type BrowserStack } from './browser.support';

describe('operator page', () => {
  const exportsDir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-admin-page-'));
  const sku = uniqueSku('admin-page');
  let stack: BrowserStack | undefined;
  let page: Page;

  beforeAll(async () => {
    stack = await openBrowserStack({ EXPORTS_DIR: exportsDir });
    const { h, relay } = stack;
    page = stack.page;
    await insertProducts(h.db, [{ sku, stock: 10, priceCents: 1999, name: 'Operator mug', lowStockThreshold: 5 }]);
    await page.goto(`${relay.url}/admin.html?api=${encodeURIComponent(h.baseUrl)}`);
    await page.locator(`#stock tr[data-sku="${sku}"]`).waitFor();
    await page.locator('#connection.pill-on').waitFor();
  });

  afterAll(async () => {
    await stack?.close();
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
    await screenshotIfAsked(page);
  });
});
