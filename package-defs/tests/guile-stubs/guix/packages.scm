;;; Test stand-in for Guix's (guix packages): records origins as association lists so a
;;; test can load the exported module with plain Guile and read every field back.
(define-module (guix packages)
  #:export (origin base32 base16))

(define-syntax origin
  (syntax-rules ()
    ((_ (field value) ...) (list (cons 'field value) ...))))

(define nix-base32-chars "0123456789abcdfghijklmnpqrsvwxyz")

;; Like Guix's base32, refuse what is not a Nix base32 sha256.
(define (base32 s)
  (unless (and (= (string-length s) 52)
               (string-every (lambda (c) (string-index nix-base32-chars c)) s))
    (error "not a Nix base32 sha256:" s))
  (list 'base32 s))

(define (base16 s)
  (unless (= (string-length s) 64) (error "not a hex sha256:" s))
  (list 'base16 s))
