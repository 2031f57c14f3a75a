/* Test helpers for the dataset suites: temporary folders and folder-tree
 * comparison. */
#ifndef SS_DS_TESTUTIL_H
#define SS_DS_TESTUTIL_H

#include <stddef.h>

/* Creates a fresh folder /tmp/<prefix>XXXXXX into buf; 0 on success. */
int dtu_tmpdir(const char *prefix, char *buf, size_t n);
/* Removes a folder tree (no links followed). */
void dtu_rm_rf(const char *dir);
/* Compares two folder trees file by file: 0 = same relative paths and bytes,
 * 1 = differ (a description of the first difference goes into why). */
int dtu_tree_cmp(const char *a, const char *b, char *why, size_t nwhy);
/* Number of regular files under dir. */
int dtu_count_files(const char *dir);

#endif
