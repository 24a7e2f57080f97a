// The terminal view of `trapezoid analyze` on a live source (a layer above analyze/ and render/;
// only cli/ imports it). `loadCallView` imports the view (React, Ink) only when it is shown.
export { loadCallView } from './load-call-view.ts';
export type { CallViewOptions } from './call-view.ts';
export { CallRows } from './call-rows.ts';
export type { CallRow } from './call-rows.ts';
