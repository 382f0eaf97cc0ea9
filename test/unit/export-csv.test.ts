import { EXPORT_COLUMNS, EXPORT_HEADER, toCsv } from '../../lib/export-files';

describe('lib/export-files toCsv', () => {
  it('when a cell holds a comma, a quote or a newline, then it is quoted and inner quotes are doubled', () => {
    expect(toCsv([['a,b', 'say "hi"', 'two\nlines', 'cr\r\nlf', 'plain']])).toBe(
      '"a,b","say ""hi""","two\nlines","cr\r\nlf",plain\n',
    );
  });

  it('when a cell holds a lone carriage return, then it is quoted, so no reader splits the row there', () => {
    // RFC 4180 quotes CR as well as LF: unquoted, `a\r=1+1` read as two rows, the second starting with a formula.
    expect(toCsv([['id', 'a\r+1']])).toBe('id,"a\r\'+1"\n');
  });

  it('when a text cell starts with = + - @ (or a tab or CR), then it is prefixed with a quote mark', () => {
    expect(toCsv([['=SUM(A1:A9)', '+1', '-2', '@cmd', '\tx', '=HYPERLINK("http://x","y")']])).toBe(
      `'=SUM(A1:A9),'+1,'-2,'@cmd,'\tx,"'=HYPERLINK(""http://x"",""y"")"\n`,
    );
  });

  it('when a cell is a number (even negative) or empty, then it is written as is', () => {
    expect(toCsv([[-5, 0, 1900, null, '']])).toBe('-5,0,1900,,\n');
  });

  it('when the formula character is not first, then the cell is left alone', () => {
    expect(toCsv([['a=b', 'x-y', 'mail@host', 'a;b', 'tab\tsep']])).toBe('a=b,x-y,mail@host,a;b,tab\tsep\n');
  });

  it('when a formula character follows a ; a tab or a line break inside a cell, then it is prefixed there too', () => {
    // Split on ; (a ;-locale spreadsheet) or on tabs, or read line by line, these cells would hold formulas.
    expect(toCsv([['shop;=1+1;x', 'a\t=cmd', 'b\t\t@x', 'line\n-2 c', 'wide;\uFF1D1']])).toBe(
      `shop;'=1+1;x,a\t'=cmd,b\t'\t'@x,"line\n'-2 c",wide;'\uFF1D1\n`,
    );
  });

  it('when the header is built, then it names every column once, in order', () => {
    expect(EXPORT_HEADER).toBe(`${EXPORT_COLUMNS.join(',')}\n`);
  });
});
