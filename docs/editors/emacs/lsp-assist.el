;;; lsp-assist.el --- lsp-assist through Eglot  -*- lexical-binding: t; -*-

;; Put this file on your `load-path' and `(require 'lsp-assist)', or paste its body into
;; your init file.  Eglot is built into Emacs 29 and later; on Emacs 28 install it first
;; (Debian/Ubuntu: `apt-get install elpa-eglot'; otherwise M-x package-install RET eglot).
;;
;; Eglot does not speak LSP 3.18 inline completion, so there is no ghost text: the model's
;; suggestion arrives as a completion candidate (C-M-i, or Company/Corfu), and review
;; findings arrive as Flymake diagnostics with their quick fixes under M-x eglot-code-actions.
;;
;; Eglot runs one server per buffer: with this entry, lsp-assist replaces any other Python
;; (JavaScript, ...) server for those modes.

;;; Code:

(require 'eglot)

(defvar lsp-assist-server-command '("lsp-assist" "serve")
  "How Eglot starts lsp-assist.
An absolute path also works, e.g. (\"~/lsp-assist/.venv/bin/lsp-assist\" \"serve\").
Set it before this file is loaded.")

(defvar lsp-assist-modes
  '(python-mode python-ts-mode js-mode js-ts-mode typescript-mode typescript-ts-mode
    go-mode go-ts-mode rust-mode rust-ts-mode java-mode java-ts-mode
    c-mode c-ts-mode c++-mode c++-ts-mode lua-mode lua-ts-mode)
  "Major modes whose buffers Eglot connects to lsp-assist.")

;; initializationOptions: read once, when the server starts.
(add-to-list 'eglot-server-programs
             `(,lsp-assist-modes
               . (,@lsp-assist-server-command
                  :initializationOptions
                  (:completion (:model "qwen2.5-coder:1.5b-base")
                   :review (:model "qwen2.5-coder:7b-instruct")))))

;; The `lspAssist' section of workspace/configuration: re-read when it changes
;; (M-x eglot-signal-didChangeConfiguration).  Set per project in .dir-locals.el too.
;; JSON false is :json-false, e.g. (:completion (:enabled :json-false)) turns completions off.
(setq-default eglot-workspace-configuration
              '(:lspAssist (:review (:onSave t))))

(dolist (mode lsp-assist-modes)
  (add-hook (intern (format "%s-hook" mode)) #'eglot-ensure))

(provide 'lsp-assist)
;;; lsp-assist.el ends here
