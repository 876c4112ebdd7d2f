;;; Test stand-in for Guix's (guix download).
(define-module (guix download)
  #:export (url-fetch))

(define url-fetch 'url-fetch)
