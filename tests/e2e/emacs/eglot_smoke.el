;;; eglot_smoke.el --- drive docs/editors/emacs/lsp-assist.el in batch mode  -*- lexical-binding: t; -*-

;; Run as: emacs -Q --batch -l eglot_smoke.el FILE
;; Environment: SNIPPET (the .el to load), LSP_ASSIST_COMMAND (optional JSON list that
;; replaces `lsp-assist serve'), SCENARIO ("dump", "complete" or "review"), RESULT (JSON
;; written here), WANTED (for "complete": the candidate to accept), BUGGY_TEXT (for "review":
;; the text saved into FILE).
;; Every wait processes events (accept-process-output) until its condition holds, with a
;; deadline.

(require 'package)
;; Debian's elpa-eglot (for Emacs 28) lives in the system package directory.
(add-to-list 'package-directory-list "/usr/share/emacs/site-lisp/elpa")
(package-initialize)
(require 'json)
(require 'cl-lib)

(defvar lsp-assist-server-command)  ; defined by the snippet
(defvar python-mode-hook)

(defun smoke-finish (payload)
  (with-temp-file (getenv "RESULT")
    (insert (json-encode payload)))
  (kill-emacs 0))

(defun smoke-events ()
  "The tail of the Eglot events buffer, to explain a failure."
  (let ((server (ignore-errors (eglot-current-server))))
    (if (not server)
        ""
      (with-current-buffer (jsonrpc-events-buffer server)
        (buffer-substring-no-properties (max (point-min) (- (point-max) 4000)) (point-max))))))

(defun smoke-wait (what predicate seconds)
  "Process events until PREDICATE holds; report WHAT as not seen after SECONDS."
  (let ((deadline (+ (float-time) seconds)))
    (while (not (funcall predicate))
      (when (> (float-time) deadline)
        (smoke-finish `((err . ,(format "timed out waiting for %s" what))
                        (events . ,(smoke-events)))))
      (accept-process-output nil 0.05))))

(defun smoke-dump ()
  "What the snippet configures, for the settings checks on the Python side."
  (let ((contact (cdr (assoc 'python-mode eglot-server-programs
                             (lambda (modes mode) (memq mode (eglot--ensure-list modes)))))))
    (smoke-finish
     `((command . ,(vconcat (cl-loop for x in contact while (stringp x) collect x)))
       (initializationOptions . ,(plist-get (cl-member-if #'keywordp contact)
                                            :initializationOptions))
       (workspaceConfiguration . ,(default-value 'eglot-workspace-configuration))
       (hooked . ,(and (memq #'eglot-ensure python-mode-hook) t))))))

(defun smoke-connect (file)
  "Visit FILE and connect Eglot.
Interactively `eglot-ensure' connects after the first command, and Flymake's
first check waits for it too; batch mode runs no commands, so do both here."
  (find-file file)
  (apply #'eglot (eglot--guess-contact))
  (smoke-wait "Eglot to connect" #'eglot-current-server 30)
  (flymake-start))

(defun smoke-complete ()
  "Ask for completions at the end of the buffer and accept the WANTED candidate."
  (goto-char (point-max))
  (let* ((capf (eglot-completion-at-point))
         (candidates (all-completions "" (nth 2 capf)))
         (wanted (getenv "WANTED")))
    (when (member wanted candidates)
      ;; What a completion UI does on accepting a candidate.
      (insert wanted)
      (funcall (plist-get (nthcdr 3 capf) :exit-function) wanted 'finished))
    (smoke-finish
     `((candidates . ,(vconcat candidates))
       (buffer . ,(buffer-substring-no-properties (point-min) (point-max)))))))

(defun smoke-review ()
  "Save BUGGY_TEXT and wait for a Flymake diagnostic.
Then list the code actions there and apply the quick fix."
  (erase-buffer)
  (insert (getenv "BUGGY_TEXT"))
  (save-buffer)
  (smoke-wait "a Flymake diagnostic" #'flymake-diagnostics 30)
  (let* ((diagnostics (flymake-diagnostics))
         (beg (flymake-diagnostic-beg (car diagnostics)))
         (end (flymake-diagnostic-end (car diagnostics)))
         (reported
          (mapcar (lambda (d)
                    `((text . ,(flymake-diagnostic-text d))
                      (type . ,(symbol-name (flymake-diagnostic-type d)))
                      (covered . ,(buffer-substring-no-properties
                                   (flymake-diagnostic-beg d) (flymake-diagnostic-end d)))))
                  diagnostics))
         ;; What M-x eglot-code-actions offers there.
         (titles (mapcar (lambda (a) (plist-get a :title)) (eglot-code-actions beg end))))
    ;; M-x eglot-code-action-quickfix there from the keyboard, then RET at its prompt, whose
    ;; default is the server's preferred action.
    (cl-letf (((symbol-function 'completing-read)
               (lambda (_prompt _table &optional _pred _match _init _hist default &rest _)
                 default)))
      (let ((last-nonmenu-event ?\r))  ; a key, not a mouse click: no popup menu
        (eglot-code-actions beg end "quickfix" t)))
    (smoke-finish
     `((diagnostics . ,(vconcat reported))
       (actions . ,(vconcat titles))
       (fixed . ,(buffer-substring-no-properties (point-min) (point-max)))))))

(condition-case err
    (let ((file (car command-line-args-left))
          (scenario (getenv "SCENARIO")))
      (setq command-line-args-left nil)
      (when (getenv "LSP_ASSIST_COMMAND")  ; as a user would, before loading the snippet
        (setq lsp-assist-server-command
              (append (json-read-from-string (getenv "LSP_ASSIST_COMMAND")) nil)))
      (load (getenv "SNIPPET") nil t)
      (cond
       ((equal scenario "dump") (smoke-dump))
       ((equal scenario "complete") (smoke-connect file) (smoke-complete))
       ((equal scenario "review") (smoke-connect file) (smoke-review))
       (t (error "Unknown SCENARIO %S" scenario))))
  (error (smoke-finish `((err . ,(error-message-string err))
                         (events . ,(smoke-events))))))

;;; eglot_smoke.el ends here
