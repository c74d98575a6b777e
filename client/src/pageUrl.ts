/** The page's own URL, against which an empty or relative endpoint resolves. */
export const pageUrl = () => window.location.href;
