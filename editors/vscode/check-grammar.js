// Tokenize .rnn files with the grammar as VS Code does (vscode-textmate on the Oniguruma regex
// engine) and print, for each file, every token's text and scopes as JSON lines. Fails on a
// pattern Oniguruma cannot compile or a file it cannot tokenize. Used by package.sh; the Python
// test suite (tests/test_vscode_grammar.py) checks the same grammar with Python's `re`.
"use strict";

const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

async function main(files) {
  const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm")).buffer;
  await oniguruma.loadWASM(wasm);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async () =>
      vsctm.parseRawGrammar(fs.readFileSync(path.join(__dirname, "syntaxes", "rnn.tmLanguage.json"), "utf8"), "rnn.tmLanguage.json"),
  });
  const grammar = await registry.loadGrammar("source.rnn");
  let tokens = 0;
  for (const file of files) {
    let state = vsctm.INITIAL;
    const lines = fs.readFileSync(file, "utf8").split("\n");
    lines.forEach((line, i) => {
      const r = grammar.tokenizeLine(line, state);
      for (const t of r.tokens) {
        tokens += 1;
        if (process.env.DUMP) {
          console.log(JSON.stringify([file, i, t.startIndex, line.slice(t.startIndex, t.endIndex), t.scopes]));
        }
      }
      state = r.ruleStack;
    });
  }
  console.error(`grammar check: ${files.length} files, ${tokens} tokens`);
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err);
  process.exit(1);
});
