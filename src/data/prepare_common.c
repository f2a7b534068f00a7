/*
 * prepare_common.c — folder creation shared by the `prepare` commands.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "data/prepare.h"

int make_dirs(const char *path, Error *err) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return error_set(err, "bad folder name '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return error_set(err, "cannot create folder %s: %s", buf, strerror(errno));
        struct stat st;
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) return error_set(err, "%s exists and is not a folder", buf);
        buf[i] = c;
    }
    return 0;
}
