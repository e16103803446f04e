"""The author's side: the `publisher` command line and what its verbs do (build, check,
lint, proof, gallery, watch, serve, new, clean, styles). Takes argv; gives exit codes and
one clear line per problem. The pipeline (`source` -> `render` -> `epub`/`pdf`, run by
`build`) knows nothing of this package."""
