/*
 * dataset.c — scans an image folder into (path, label) lists (see dataset.h).
 */
#include "data/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/json.h"

/* Symbolic links are followed (like torchvision's os.walk(followlinks=True));
 * a depth limit stops link cycles. */
#define SCAN_MAX_DEPTH 48

typedef struct {
    char *path; /* dir + '/' + name */
    int dirlen; /* length of the dir part */
    int32_t label;
} Entry;

typedef struct {
    Entry *v;
    int64_t n, cap;
    int64_t other_images; /* files in an image format this program does not read (.webp, .bmp, ...) */
    char *other_example;  /* the first of them */
} EntryList;

/* Image formats people keep beside JPEGs that no decoder here reads. */
static int is_other_image_name(const char *name) {
    static const char *const ext[] = { "webp", "bmp", "gif", "tif", "tiff", "heic", "heif", "avif", "jxl", NULL };
    const char *dot = strrchr(name, '.');
    for (int i = 0; dot && ext[i]; i++)
        if (strcasecmp(dot + 1, ext[i]) == 0) return 1;
    return 0;
}

/* The warning for the files a scan left out because of their format. */
static void warn_other_images(const EntryList *l, const char *dir) {
    if (l->other_images == 0) return;
    warnf("%s: %lld file%s in an image format alexnet does not read %s left out (%s%s): convert %s to JPEG or PNG",
          dir, (long long)l->other_images, plural_s(l->other_images), l->other_images == 1 ? "was" : "were",
          l->other_example, l->other_images > 1 ? ", ..." : "", l->other_images == 1 ? "it" : "them");
}

int dataset_is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    return strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0 || strcasecmp(dot, ".png") == 0;
}

/* Python's sorted() over (dirpath, name): the folder path first, then the name. */
static int cmp_entry(const void *pa, const void *pb) {
    const Entry *a = pa, *b = pb;
    int la = a->dirlen, lb = b->dirlen;
    int c = memcmp(a->path, b->path, (size_t)(la < lb ? la : lb));
    if (c) return c;
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(a->path + la + 1, b->path + lb + 1);
}

/* 1 if path is a folder (following links), 0 if not, -1 if it can't be stat'ed. */
static int is_dir(const char *path, unsigned char d_type) {
    if (d_type == DT_DIR) return 1;
    if (d_type != DT_LNK && d_type != DT_UNKNOWN) return 0;
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    return S_ISDIR(st.st_mode) ? 1 : 0;
}

typedef struct {
    char *name;
    unsigned char type; /* dirent d_type */
} Name;

static int cmp_name(const void *a, const void *b) { return strcmp(((const Name *)a)->name, ((const Name *)b)->name); }

/* Reads the non-hidden names of a folder, sorted. */
static int list_dir(const char *dir, Name **names, int *count, Error *err) {
    DIR *d = opendir(dir);
    if (!d) return error_set(err, "cannot read folder %s: %s", dir, strerror(errno));
    int n = 0, cap = 16;
    Name *v = xmalloc(sizeof *v * (size_t)cap);
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap *= 2;
            Name *nv = realloc(v, sizeof *v * (size_t)cap);
            CHECK(nv, "out of memory listing %s", dir);
            v = nv;
        }
        v[n].name = xstrdup(e->d_name);
        v[n].type = e->d_type;
        n++;
        errno = 0;
    }
    int rerr = errno;
    closedir(d);
    if (rerr) {
        for (int i = 0; i < n; i++) free(v[i].name);
        free(v);
        return error_set(err, "cannot read folder %s: %s", dir, strerror(rerr));
    }
    qsort(v, (size_t)n, sizeof *v, cmp_name);
    *names = v;
    *count = n;
    return 0;
}

static void free_names(Name *names, int n) {
    for (int i = 0; i < n; i++) free(names[i].name);
    free(names);
}

static void list_push(EntryList *l, char *path, int dirlen, int32_t label) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        Entry *nv = realloc(l->v, sizeof *nv * (size_t)l->cap);
        CHECK(nv, "out of memory scanning the dataset");
        l->v = nv;
    }
    l->v[l->n++] = (Entry){ path, dirlen, label };
}

static int scan_class_dir(EntryList *l, const char *dir, int32_t label, int depth, Error *err) {
    if (depth > SCAN_MAX_DEPTH)
        return error_set(err, "folder %s is nested more than %d levels deep (a symbolic link cycle?)", dir,
                         SCAN_MAX_DEPTH);
    Name *names;
    int n;
    if (list_dir(dir, &names, &n, err) != 0) return -1;
    int rc = 0;
    int dirlen = (int)strlen(dir);
    for (int i = 0; i < n && rc == 0; i++) {
        char *p = path_join(dir, names[i].name);
        int d = is_dir(p, names[i].type);
        if (d == 1) {
            rc = scan_class_dir(l, p, label, depth + 1, err);
            free(p);
        } else if (d == 0 && dataset_is_image_name(names[i].name)) {
            list_push(l, p, dirlen, label);
        } else if (d == 0 && is_other_image_name(names[i].name)) {
            if (!l->other_images++) l->other_example = p;
            else free(p);
        } else {
            free(p); /* dangling links and other files are not images */
        }
    }
    free_names(names, n);
    return rc;
}

/* A pack file as a Dataset: classes copied, paths shown as PACK/<name>. */
static int open_pack(Dataset *ds, const char *path, Error *err) {
    Pack *p = xcalloc(1, sizeof *p);
    if (pack_open(p, path, err) != 0) {
        free(p);
        return -1;
    }
    size_t plen = strlen(path), total = 0;
    for (int64_t i = 0; i < p->n; i++) total += plen + strlen(p->names[i]) + 2;
    ds->root = xstrdup(path);
    ds->pack = p;
    ds->n_classes = p->n_classes;
    ds->classes = xmalloc(sizeof *ds->classes * (size_t)p->n_classes);
    for (int c = 0; c < p->n_classes; c++) ds->classes[c] = xstrdup(p->classes[c]);
    ds->n = p->n;
    ds->paths = xmalloc(sizeof *ds->paths * (size_t)p->n);
    ds->labels = xmalloc(sizeof *ds->labels * (size_t)p->n);
    ds->path_block = xmalloc(total);
    char *q = ds->path_block;
    for (int64_t i = 0; i < p->n; i++) {
        PackRecord r;
        pack_record(p, i, &r);
        ds->labels[i] = (int32_t)r.label;
        ds->paths[i] = q;
        q += sprintf(q, "%s/%s", path, p->names[i]) + 1;
    }
    return 0;
}

int dataset_source(const Dataset *ds, int64_t i, ImageSource *src, Error *err) {
    memset(src, 0, sizeof *src);
    src->name = ds->paths[i];
    if (!ds->pack) return 0;
    PackRecord r;
    if (pack_read(ds->pack, i, &src->data, &r, err) != 0) return -1;
    src->size = r.size;
    if (ds->pack->mode == PACK_RAW) {
        src->raw_w = (int)r.width;
        src->raw_h = (int)r.height;
    }
    return 0;
}

void dataset_source_done(const Dataset *ds, int64_t i) {
    if (ds->pack) pack_done(ds->pack, i);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Class names are written as UTF-8 text (checkpoints, config.json, predict's
 * JSON), bytes that are not UTF-8 transcoded as Latin-1 (common/json.h): two
 * folders whose names become the same text would be one class to every
 * reader, so they are refused. */
static int check_class_texts(const Dataset *ds, const char *dir, Error *err) {
    int any = 0;
    for (int c = 0; c < ds->n_classes && !any; c++) any = !utf8_valid(ds->classes[c]);
    if (!any) return 0; /* distinct bytes, distinct text */
    char **text = xmalloc(sizeof *text * (size_t)ds->n_classes);
    for (int c = 0; c < ds->n_classes; c++) text[c] = utf8_text(ds->classes[c]);
    qsort(text, (size_t)ds->n_classes, sizeof *text, cmp_str);
    int rc = 0;
    for (int c = 1; c < ds->n_classes && rc == 0; c++)
        if (strcmp(text[c - 1], text[c]) == 0)
            rc = error_set(err,
                           "%s has two classes named \"%s\" once their names are text (one of them is not UTF-8 and "
                           "reads as Latin-1): rename one",
                           dir, text[c]);
    for (int c = 0; c < ds->n_classes; c++) free(text[c]);
    free(text);
    return rc;
}

int dataset_scan(Dataset *ds, const char *dir, Error *err) {
    memset(ds, 0, sizeof *ds);
    struct stat st;
    if (stat(dir, &st) != 0) return error_set(err, "data folder %s: %s", dir, strerror(errno));
    if (S_ISREG(st.st_mode) && pack_sniff(dir)) {
        if (open_pack(ds, dir, err) != 0) return -1;
        if (check_class_texts(ds, dir, err) == 0) return 0;
        dataset_free(ds);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return error_set(
            err, "data folder %s is not a folder, nor an alexnet pack (make one with alexnet prepare pack)", dir);

    Name *names;
    int n;
    if (list_dir(dir, &names, &n, err) != 0) return -1;
    int nc = 0;
    char **classes = xmalloc(sizeof *classes * ((size_t)n + 1));
    for (int i = 0; i < n; i++) {
        char *p = path_join(dir, names[i].name);
        if (is_dir(p, names[i].type) == 1) classes[nc++] = xstrdup(names[i].name);
        free(p);
    }
    free_names(names, n);
    if (nc == 0) {
        free(classes);
        return error_set(err, "data folder %s has no class folders (expected %s/<class>/<image>.jpg)", dir, dir);
    }

    EntryList list = { 0 };
    int rc = 0;
    for (int c = 0; c < nc && rc == 0; c++) {
        char *cdir = path_join(dir, classes[c]);
        int64_t before = list.n;
        rc = scan_class_dir(&list, cdir, c, 0, err);
        if (rc == 0 && list.n == before)
            rc = error_set(err, "class folder %s contains no images (.jpg, .jpeg or .png)", cdir);
        free(cdir);
    }
    if (rc != 0) {
        for (int64_t i = 0; i < list.n; i++) free(list.v[i].path);
        free(list.v);
        free(list.other_example);
        for (int c = 0; c < nc; c++) free(classes[c]);
        free(classes);
        return -1;
    }
    warn_other_images(&list, dir);
    free(list.other_example);
    /* Each class's entries are contiguous and already in class order; sort within classes. */
    int64_t start = 0;
    for (int64_t i = 1; i <= list.n; i++) {
        if (i == list.n || list.v[i].label != list.v[start].label) {
            qsort(list.v + start, (size_t)(i - start), sizeof *list.v, cmp_entry);
            start = i;
        }
    }
    ds->root = xstrdup(dir);
    ds->n_classes = nc;
    ds->classes = classes;
    ds->n = list.n;
    ds->paths = xmalloc(sizeof *ds->paths * (size_t)list.n);
    ds->labels = xmalloc(sizeof *ds->labels * (size_t)list.n);
    for (int64_t i = 0; i < list.n; i++) {
        ds->paths[i] = list.v[i].path;
        ds->labels[i] = list.v[i].label;
    }
    free(list.v);
    if (check_class_texts(ds, dir, err) == 0) return 0;
    dataset_free(ds);
    return -1;
}

int dataset_list_images(const char *dir, char ***paths, int64_t *n, Error *err) {
    EntryList list = { 0 };
    *paths = NULL;
    *n = 0;
    if (scan_class_dir(&list, dir, 0, 0, err) != 0) {
        for (int64_t i = 0; i < list.n; i++) free(list.v[i].path);
        free(list.v);
        free(list.other_example);
        return -1;
    }
    warn_other_images(&list, dir);
    free(list.other_example);
    qsort(list.v, (size_t)list.n, sizeof *list.v, cmp_entry);
    *paths = xmalloc(sizeof **paths * (size_t)(list.n + 1));
    for (int64_t i = 0; i < list.n; i++) (*paths)[i] = list.v[i].path;
    *n = list.n;
    free(list.v);
    return 0;
}

void dataset_free(Dataset *ds) {
    if (!ds) return;
    if (ds->pack) {
        pack_close(ds->pack);
        free(ds->pack);
        free(ds->path_block);
    } else {
        for (int64_t i = 0; i < ds->n; i++) free(ds->paths[i]);
    }
    for (int c = 0; c < ds->n_classes; c++) free(ds->classes[c]);
    free(ds->paths);
    free(ds->labels);
    free(ds->classes);
    free(ds->root);
    memset(ds, 0, sizeof *ds);
}

/* ---------------------------------------------------------- shared scans */

#define SCAN_MAGIC "ALXSCAN1"

static void put(char **p, const void *src, size_t n) {
    memcpy(*p, src, n);
    *p += n;
}

size_t dataset_to_bytes(const Dataset *ds, char **out) {
    CHECK(!ds->pack, "dataset_to_bytes: a pack is opened by each rank, not shared");
    size_t len = 8 + sizeof(int32_t) + sizeof(int64_t) + strlen(ds->root) + 1;
    for (int c = 0; c < ds->n_classes; c++) len += strlen(ds->classes[c]) + 1;
    len += (size_t)ds->n * sizeof(int32_t);
    for (int64_t i = 0; i < ds->n; i++) len += strlen(ds->paths[i]) + 1;
    char *buf = xmalloc(len), *p = buf;
    int32_t k = ds->n_classes;
    int64_t n = ds->n;
    put(&p, SCAN_MAGIC, 8);
    put(&p, &k, sizeof k);
    put(&p, &n, sizeof n);
    put(&p, ds->root, strlen(ds->root) + 1);
    for (int c = 0; c < k; c++) put(&p, ds->classes[c], strlen(ds->classes[c]) + 1);
    put(&p, ds->labels, (size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) put(&p, ds->paths[i], strlen(ds->paths[i]) + 1);
    *out = buf;
    return len;
}

/* The NUL-terminated string at *p within [*p, end), or NULL. */
static char *take_string(const char **p, const char *end) {
    const char *nul = memchr(*p, 0, (size_t)(end - *p));
    if (!nul) return NULL;
    char *s = xstrdup(*p);
    *p = nul + 1;
    return s;
}

int dataset_from_bytes(Dataset *ds, const char *buf, size_t len, Error *err) {
    memset(ds, 0, sizeof *ds);
    const char *p = buf, *end = buf + len;
    int32_t k;
    int64_t n;
    if (len < 8 + sizeof k + sizeof n || memcmp(p, SCAN_MAGIC, 8) != 0)
        return error_set(err, "the shared scan is damaged (no header)");
    memcpy(&k, p + 8, sizeof k);
    memcpy(&n, p + 8 + sizeof k, sizeof n);
    p += 8 + sizeof k + sizeof n;
    /* every class and path takes at least one byte, every label four */
    if (k < 1 || n < 1 || (uint64_t)k > len || (uint64_t)n > len / (sizeof(int32_t) + 1))
        return error_set(err, "the shared scan is damaged (%d classes, %lld images in %zu bytes)", k, (long long)n, len);
    ds->classes = xcalloc((size_t)k, sizeof *ds->classes);
    ds->paths = xcalloc((size_t)n, sizeof *ds->paths);
    ds->labels = xmalloc((size_t)n * sizeof *ds->labels);
    int ok = (ds->root = take_string(&p, end)) != NULL;
    for (int c = 0; ok && c < k; c++, ds->n_classes = c) ok = (ds->classes[c] = take_string(&p, end)) != NULL;
    ok = ok && (size_t)(end - p) >= (size_t)n * sizeof(int32_t);
    if (ok) {
        memcpy(ds->labels, p, (size_t)n * sizeof(int32_t));
        p += (size_t)n * sizeof(int32_t);
    }
    for (int64_t i = 0; ok && i < n; i++) ok = ds->labels[i] >= 0 && ds->labels[i] < k;
    for (int64_t i = 0; ok && i < n; i++, ds->n = i) ok = (ds->paths[i] = take_string(&p, end)) != NULL;
    if (ok) ds->n = n;
    if (!ok || p != end) {
        dataset_free(ds);
        return error_set(err, "the shared scan is damaged");
    }
    return 0;
}
