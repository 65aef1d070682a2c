/**
 * Drives a device login the way a person does: Debian's Chromium, headless,
 * through playwright-core. Every launch gets a fresh profile (playwright's own
 * temporary user data dir), so no session leaks between tests.
 */
import { type Browser, chromium, type Page } from 'playwright-core';

const CHROMIUM_ARGS = [
  '--headless',
  // Root in a container has no user namespace for the sandbox.
  '--no-sandbox',
  '--disable-gpu',
  // The network here is closed: stop Chromium phoning home and waiting on it.
  '--disable-background-networking',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

const STEP_TIMEOUT = 15_000;

/** Launches Chromium, runs `fn` with a fresh page, and always closes the browser. */
export async function withBrowser<T>(fn: (page: Page, browser: Browser) => Promise<T>): Promise<T> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT);
    return await fn(page, browser);
  } finally {
    await browser.close();
  }
}

/** The visible text of the page, for error messages. */
export async function pageText(page: Page): Promise<string> {
  try {
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what the user reads.
    return (await page.locator('body').innerText({ timeout: 2_000 })).replace(/\s+/g, ' ').trim();
  } catch {
    return '(page text unavailable)';
  }
}

/**
 * Opens the verification URL, types the user code when the URL does not carry
 * it, and confirms it; resolves once the login form is showing.
 */
export async function confirmDeviceCode(page: Page, url: string, userCode?: string): Promise<void> {
  await page.goto(url);
  if (!new URL(url).searchParams.has('user_code')) {
    if (!userCode) throw new Error('confirmDeviceCode: the URL has no user_code and none was given');
    await page.locator('input[name=user_code]').fill(userCode);
    await page.locator('button[form="op.deviceInputForm"]').click();
  }
  // The confirm form holds only hidden inputs, so it is attached, never visible.
  const confirmForm = page.locator('form[id="op.deviceConfirmForm"]');
  const refusal = page.locator('[role=alert]');
  try {
    await confirmForm.or(refusal).first().waitFor({ state: 'attached' });
  } catch (err) {
    throw new Error(`no device confirmation page: ${await pageText(page)}`, { cause: err });
  }
  if ((await confirmForm.count()) === 0) throw new Error(`the device code was refused: ${await pageText(page)}`);
  await page.locator('button[form="op.deviceConfirmForm"]:not([name=abort])').click();
  await page.waitForSelector('input[name=username]').catch(async (err: unknown) => {
    throw new Error(`no login form after confirming the code: ${await pageText(page)}`, { cause: err });
  });
}

/**
 * Fills and submits the login form. Resolves `{ ok: true }` on the success
 * page, or `{ ok: false, error }` when the form comes back with an error.
 */
export async function submitLogin(
  page: Page,
  username: string,
  password: string,
): Promise<{ ok: true; text: string } | { ok: false; error: string; text: string }> {
  await page.locator('input[name=username]').fill(username);
  await page.locator('input[name=password]').fill(password);
  await page.locator('form:has(input[name=password]) button[type=submit]').click();
  const success = page.getByRole('heading', { name: 'Signed in' });
  const failure = page.locator('[role=alert]');
  try {
    await success.or(failure).first().waitFor({ state: 'visible' });
  } catch (err) {
    throw new Error(`neither the success page nor an error appeared: ${await pageText(page)}`, { cause: err });
  }
  const text = await pageText(page);
  if (await success.isVisible()) return { ok: true, text };
  return { ok: false, error: ((await failure.first().textContent()) ?? '').trim(), text };
}

export interface DeviceLoginOptions {
  /** `verification_uri_complete`, or `verification_uri` together with `userCode`. */
  url: string;
  userCode?: string;
  username: string;
  password: string;
  /** Expect the login to be refused (the form comes back with an error). */
  expectError?: boolean;
}

/**
 * Completes an OAuth device login in headless Chromium. Throws with the page
 * text when the expected page (success, or with `expectError` the login
 * error) does not arrive.
 */
export async function completeDeviceLogin(opts: DeviceLoginOptions): Promise<void> {
  await withBrowser(async (page) => {
    await confirmDeviceCode(page, opts.url, opts.userCode);
    const result = await submitLogin(page, opts.username, opts.password);
    if (opts.expectError && result.ok) throw new Error(`expected a login error, got: ${result.text}`);
    if (!opts.expectError && !result.ok) throw new Error(`device login failed: ${result.text}`);
  });
}
