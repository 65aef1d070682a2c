/**
 * Signs in to the web console in Chromium the way a person does: the
 * console's sign-in button, the IdP's login form, back on the console.
 */
import type { Page } from 'playwright-core';
import { pageText } from './browser.js';

export async function consoleSignIn(page: Page, baseUrl: string, username: string, password = username, path = '/ui/approvals'): Promise<void> {
  await page.goto(`${baseUrl}${path}`);
  await page.locator('#sign-in').click();
  await page.locator('input[name=username]').fill(username);
  await page.locator('input[name=password]').fill(password);
  await page.locator('form:has(input[name=password]) button[type=submit]').click();
  try {
    await page.getByText(`Signed in as`).waitFor();
  } catch (err) {
    throw new Error(`console sign-in as ${username} did not finish: ${await pageText(page)}`, { cause: err });
  }
}
