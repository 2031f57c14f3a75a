/* Small file-system helpers: folders (test, mkdir -p) and a text file written
 * whole or not at all (PATH.tmp, then renamed over PATH). */
#ifndef SS_FILEIO_H
#define SS_FILEIO_H

#include <stddef.h>

/* 1 when PATH is an existing folder. */
int ss_is_dir(const char *path);
/* mkdir -p PATH; 0 or -1 with an error naming the folder that could not be made. */
int ss_mkdirs(const char *path);
/* The same; MADE (N bytes, may be NULL) receives the first folder this call
 * created ("" when none), for clean-up on a later failure. */
int ss_mkdirs_made(const char *path, char *made, size_t n);
/* Writes TEXT to PATH.tmp and renames it to PATH; on failure nothing is left
 * behind and PATH is untouched. */
int ss_write_text_atomic(const char *path, const char *text);
/* The same for DIR/NAME. */
int ss_write_text_in(const char *dir, const char *name, const char *text);

#endif
