/* Folder helpers and whole-file text writes (see fileio.h). */
#include "harness/fileio.h"

#include "kernels/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int ss_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int ss_mkdirs_made(const char *path, char *made, size_t n)
{
    char buf[4096];
    if (made && n)
        made[0] = '\0';
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return ss_seterr("path %s is too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (!ss_is_dir(buf)) {
                if (mkdir(buf, 0777) == 0) {
                    if (made && n && !made[0])
                        snprintf(made, n, "%s", buf);
                } else if (!ss_is_dir(buf)) {
                    return ss_seterr("cannot create directory %s: %s", buf, strerror(errno));
                }
            }
            *p = c;
            if (!c)
                break;
        }
    }
    return SS_OK;
}

int ss_mkdirs(const char *path) { return ss_mkdirs_made(path, NULL, 0); }

int ss_write_text_atomic(const char *path, const char *text)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return ss_seterr("path %s is too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return ss_seterr("cannot create %s: %s (does its directory exist?)", tmp, strerror(errno));
    int ok = fputs(text, f) >= 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return ss_seterr("cannot write %s", path);
    }
    return SS_OK;
}

int ss_write_text_in(const char *dir, const char *name, const char *text)
{
    char path[4200];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return ss_seterr("path %s/%s is too long", dir, name);
    return ss_write_text_atomic(path, text);
}
