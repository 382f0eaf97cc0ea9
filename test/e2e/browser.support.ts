/**
 * What the browser suites share: the API harness, a relay on an origin the API allows (CORS_ORIGINS) serving the
 * pages, and headless Chromium with one page open. DEMO_SCREENSHOT=<path> asks a suite for a screenshot at its end.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort } from '../../stack';
import { createApiHarness, type ApiHarness } from '../support/api-helpers';
import { chromiumPath } from '../support/services';
import { startRelay, type TestRelay } from '../integration/realtime.support';

/** The stack a page runs against; `close()` in afterAll. */
export interface BrowserStack {
  h: ApiHarness;
  relay: TestRelay;
  /** The relay's origin, where the pages live. */
  origin: string;
  browser: Browser;
  /** A 1200x800 page, not navigated yet. */
  page: Page;
  close(): Promise<void>;
}

/** Starts the API (with `env` over the suite defaults), the relay and Chromium; closes what started if one fails. */
export async function openBrowserStack(env: Record<string, string> = {}): Promise<BrowserStack> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const opened: { close(): Promise<void> }[] = [];
  const close = async () => {
    for (const item of opened.splice(0).reverse()) await item.close();
  };
  try {
    const h = await createApiHarness({ env: { CORS_ORIGINS: origin, ...env } });
    opened.push(h);
    const relay = await startRelay(h.config, h.db, { port });
    opened.push(relay);
    const browser = await chromium.launch({
      executablePath: chromiumPath(),
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
    opened.push(browser);
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    return { h, relay, origin, browser, page, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Saves a full-page screenshot to DEMO_SCREENSHOT when it is set (docs/demo.png is made that way). */
export async function screenshotIfAsked(page: Page): Promise<void> {
  if (process.env.DEMO_SCREENSHOT) await page.screenshot({ path: process.env.DEMO_SCREENSHOT, fullPage: true });
}
