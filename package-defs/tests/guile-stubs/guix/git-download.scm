;;; Test stand-in for Guix's (guix git-download).
(define-module (guix git-download)
  #:export (git-fetch git-reference git-file-name))

(define git-fetch 'git-fetch)

(define-syntax git-reference
  (syntax-rules ()
    ((_ (field value) ...) (list 'git-reference (cons 'field value) ...))))

(define (git-file-name name version)
  (string-append name "-" version "-checkout"))
