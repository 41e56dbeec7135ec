// The rnnlang extension: the .rnn language (grammar and language configuration come from
// package.json) and a client of the language server that `rnn lsp` runs over stdio, which gives
// diagnostics, hover, completion, go to definition, rename, code actions and formatting.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

async function activate(context) {
  const config = vscode.workspace.getConfiguration("rnnlang");
  const command = config.get("server.command", "rnn");
  const args = config.get("server.args", ["lsp"]);
  const serverOptions = {
    run: { command, args, transport: TransportKind.stdio },
    debug: { command, args, transport: TransportKind.stdio },
  };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "rnn" },
      { scheme: "untitled", language: "rnn" },
    ],
    synchronize: {
      // a model reads arrays and declared tasks from files beside it
      fileEvents: vscode.workspace.createFileSystemWatcher("**/*.{rnn,npy,npz}"),
    },
  };
  client = new LanguageClient("rnnlang", "rnnlang", serverOptions, clientOptions);
  context.subscriptions.push(
    vscode.commands.registerCommand("rnnlang.restartServer", async () => {
      if (client) {
        await client.restart();
      }
    })
  );
  try {
    await client.start();
  } catch (err) {
    vscode.window.showErrorMessage(
      `rnnlang: could not start \`${[command, ...args].join(" ")}\` (${err.message || err}). ` +
        "Install rnnlang, or set `rnnlang.server.command` to the `rnn` of the environment it is installed in."
    );
  }
}

async function deactivate() {
  if (client) {
    await client.stop();
  }
}

module.exports = { activate, deactivate };
