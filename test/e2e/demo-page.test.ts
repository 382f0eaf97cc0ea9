/**
 * The live demo page in headless Chromium against the real stack (API + worker + relay): place an order and watch it
 * reach COMPLETED, then cancel a tok_slow order and watch it end CANCELLED. Set DEMO_SCREENSHOT=<path> to save a
 * screenshot of the page at the end (docs/demo.png is made that way).
 */
import { randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import { insertProducts, uniqueSku } from '../support/services';
import { openBrowserStack, screenshotIfAsked, type BrowserStack } from './browser.support';

describe('live demo page', () => {
  const sku = uniqueSku('demo');
  let stack: BrowserStack | undefined;
  let page: Page;

  beforeAll(async () => {
    stack = await openBrowserStack();
    const { h, relay, origin } = stack;
    page = stack.page;
    // The page lives on the relay's origin and calls the API cross-origin: the API must allow it (CORS_ORIGINS).
    const preflight = await fetch(`${h.baseUrl}/products`, {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization',
      },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBe(origin);
    await insertProducts(h.db, [{ sku, stock: 10, priceCents: 1999, name: 'Demo mug' }]);
    await page.goto(`${relay.url}/?customer=demo-${randomUUID().slice(0, 8)}&api=${encodeURIComponent(h.baseUrl)}`);
    await page.locator(`#catalog tr[data-sku="${sku}"]`).waitFor();
    await page.locator('#connection.pill-on').waitFor();
  });

  afterAll(async () => {
    await stack?.close();
  });

  const placeOrder = async (paymentToken: string): Promise<string> => {
    const before = await page.locator('#orders > li').count();
    await page.selectOption('#sku', sku);
    await page.selectOption('#payment-token', paymentToken);
    await page.click('#place-order');
    await page.waitForFunction(`document.querySelectorAll('#orders > li').length > ${before}`);
    const orderId = await page.locator('#orders > li').first().getAttribute('data-order-id');
    if (orderId === null) throw new Error('the new order has no id');
    return orderId;
  };

  test('when an order is placed with tok_ok, then its timeline reaches COMPLETED live and the stock goes down', async () => {
    const orderId = await placeOrder('tok_ok');
    const card = page.locator(`#orders > li[data-order-id="${orderId}"]`);
    await card.locator('xpath=self::*[@data-status="COMPLETED"]').waitFor({ timeout: 30_000 });
    expect(await card.locator('.timeline .event-status').allTextContents()).toEqual([
      'PENDING',
      'RESERVED',
      'CHARGING',
      'PAID',
      'COMPLETED',
    ]);
    expect(await card.locator('button.cancel').isDisabled()).toBe(true);
    await page.locator(`td[data-stock="${sku}"]`, { hasText: /^9$/ }).waitFor();
  });

  test('when a tok_slow order is cancelled while charging, then its timeline ends CANCELLED', async () => {
    const orderId = await placeOrder('tok_slow');
    const card = page.locator(`#orders > li[data-order-id="${orderId}"]`);
    await card.locator('.timeline li[data-status="CHARGING"]').waitFor({ timeout: 30_000 });
    await card.locator('button.cancel').click();
    await card.locator('xpath=self::*[@data-status="CANCELLED"]').waitFor({ timeout: 30_000 });
    const statuses = await card.locator('.timeline .event-status').allTextContents();
    expect(statuses[0]).toBe('PENDING');
    expect(statuses.at(-1)).toBe('CANCELLED');
    expect(statuses).not.toContain('COMPLETED');
    // The cancel released the stock: back to 9 (one unit stays with the completed order of the previous test).
    await page.locator(`td[data-stock="${sku}"]`, { hasText: /^9$/ }).waitFor();
    await screenshotIfAsked(page);
  });

  test('when the customer id is refused by /dev-token (a space in it), then the page says why, not "production relay"', async () => {
    const { relay } = stack!;
    await page.goto(`${relay.url}/?customer=${encodeURIComponent('John Doe')}`);
    await page.locator('#message', { hasText: 'customer id refused' }).waitFor();
    expect(await page.locator('#message').textContent()).not.toContain('production relay');
  });

  test('when ?api= names another host, then the page calls its configured API instead (that host would get the token), and no site may frame it', async () => {
    const { relay } = stack!;
    const response = await page.goto(`${relay.url}/?customer=demo-x&api=${encodeURIComponent('https://evil.example')}`);
    expect(response?.headers()).toMatchObject({
      'x-frame-options': 'DENY',
      'content-security-policy': "frame-ancestors 'none'",
    });
    // The footer names the API the page calls: the relay's configured one, not the host in ?api=.
    const { apiUrl } = (await (await fetch(`${relay.url}/config.json`)).json()) as { apiUrl: string };
    await page.locator('#api-url', { hasText: apiUrl.replace(/\/+$/, '') }).waitFor();
    expect(await page.locator('#api-url').textContent()).not.toContain('evil.example');
  });
});
