/**
 * @module
 * The status page's files, kept as strings in modules so that `deno bundle` and `deno compile`
 * carry them: the program never reads them from disk.
 */
export { STATUS_PAGE_HTML, STATUS_PAGE_STYLE } from "./page.ts";
export { STATUS_PAGE_SCRIPT } from "./script.ts";
