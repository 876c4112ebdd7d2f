;;; Runs a package's real Guix build phases offline against host tools: used by
;;; scripts/guix-phases.sh inside the Guix chroot (see that script for the why).
;;;
;;;   guix repl -- guix-phases.scm DRV UPSTREAM-CHECKOUT DATA-CHECKOUT WORK STAND-INS
;;;
;;; 1. Adds the two checkouts to the store under the names of the package's fixed-output
;;;    git origins; the store path must equal the one the derivation expects (the pins).
;;; 2. Writes WORK/source-builder.scm and WORK/package-builder.scm: the derivations' own
;;;    builders with every other store path rewritten to a stand-in folder under STAND-INS
;;;    (made by the shell script), the patched source's to WORK/source.
;;; 3. Prints `module-import DIR' lines for the load path, and `source PATH' for each origin.

(use-modules (guix store) (guix derivations) (srfi srfi-1) (srfi srfi-26)
             (ice-9 match) (ice-9 regex) (ice-9 textual-ports))

(match (command-line)
  ((_ drv-file upstream data work stand-ins)
   (define package (read-derivation-from-file drv-file))
   (define (input-derivations drv)
     (map derivation-input-derivation (derivation-inputs drv)))
   (define source
     (or (find (lambda (d)
                 (and (string-suffix? "-checkout" (derivation-name d))
                      (not (fixed-output-derivation? d))))
               (input-derivations package))
         (error "no patched source among the inputs of" drv-file)))
   (define origins
     (filter (lambda (d)
               (and (fixed-output-derivation? d)
                    (string-suffix? "-checkout" (derivation-name d))))
             (input-derivations source)))
   (with-store store
     (for-each
      (lambda (origin)
        (let* ((name (derivation-name origin))
               (dir (if (string-contains name "-data-") data upstream))
               (want (derivation->output-path origin))
               (got (add-to-store store name #t "sha256" dir)))
          (unless (string=? want got)
            (error "checkout does not hash to the pinned origin:" dir got want))
          (format #t "source ~a ~a~%" name got)))
      origins))
   (define kept
     ;; Store paths the builders may keep: the sources just added, and Guix's
     ;; build-side modules (plain store files, present after `guix build -d').
     (append (map derivation->output-path origins)
             (filter-map (lambda (arg)
                           (and (string-contains arg "-module-import")
                                (not (string-contains arg "-compiled"))
                                arg))
                         (append (derivation-builder-arguments package)
                                 (derivation-builder-arguments source)))))
   (for-each (lambda (dir) (format #t "module-import ~a~%" dir))
             (delete-duplicates
              (filter (cut string-suffix? "-module-import" <>) kept)))
   (define (rewrite drv to)
     (let* ((builder (last (derivation-builder-arguments drv)))
            (text (call-with-input-file builder get-string-all))
            (source-out (derivation->output-path source)))
       (call-with-output-file to
         (lambda (port)
           (display
            (regexp-substitute/global
             #f "/gnu/store/[0-9a-z]{32}-[^/\" )]*" text
             'pre
             (lambda (m)
               (let ((path (match:substring m)))
                 (cond ((member path kept) path)
                       ((string=? path source-out)
                        (string-append work "/source"))
                       ((string=? path builder) path)
                       (else
                        ;; name without the hash: stand-ins are per package name
                        (let ((name (string-drop path 44)))
                          (format #t "stand-in ~a~%" name)
                          (string-append stand-ins "/" name))))))
             'post)
            port)))))
   (rewrite source (string-append work "/source-builder.scm"))
   (rewrite package (string-append work "/package-builder.scm"))
   (format #t "patches ~a~%" (derivation->output-path source))))
