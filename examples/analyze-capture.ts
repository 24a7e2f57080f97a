// Analyse a capture from code: its calls, how each ended, and the ladder of the first one.
//
//   node --conditions=trapezoid-source --import tsx examples/analyze-capture.ts CAPTURE.pcap
//
// (in a program that installed the package: `import ... from 'trapezoid'` just works.)
import { analyzeCaptureFile, buildReport, renderText } from 'trapezoid';

const path = process.argv[2];
if (!path) {
  console.error('usage: analyze-capture.ts CAPTURE');
  process.exit(2);
}

// One pass over the file; a capture broken part way still gives the calls before the break.
const { analysis, error } = await analyzeCaptureFile(path);
if (error) console.error(`warning: ${error.message}`);

const report = buildReport(analysis, { hideOptions: true });
console.log(`${report.frames} frames, ${report.calls.length} call(s)`);
for (const call of report.calls) {
  const status = call.finalStatus ? `${call.finalStatus} ${call.finalReason ?? ''}`.trim() : '-';
  const hungUp = call.hungUpBy ? `, hung up by the ${call.hungUpBy}` : '';
  console.log(`${call.firstMethod} ${call.from} -> ${call.to}: ${call.state}, ${status}${hungUp}`);
}

const first = report.calls[0];
if (first) console.log(renderText(first, { color: false }));
