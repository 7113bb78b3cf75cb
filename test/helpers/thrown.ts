/** The class name and `code` of what `fn` throws (fails the test if it does not throw). */
export function codeOf(fn: () => unknown): { type: string; code: string } {
  try {
    fn();
  } catch (e) {
    return { type: (e as Error).constructor.name, code: (e as { code: string }).code };
  }
  throw new Error('did not throw');
}
