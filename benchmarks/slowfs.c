/* slowfs: a read-only FUSE pass-through that makes every metadata operation slow and lets the
 * kernel cache nothing: a stand-in for an NFS client whose attribute cache is cold.
 *
 *     slowfs SOURCE MOUNTPOINT LATENCY_US [-f]
 *
 * Every lookup, getattr, access, readlink, open, opendir, readdir and statfs sleeps LATENCY_US
 * microseconds before it is answered from SOURCE; reads are not delayed (their cost is the
 * data, the same for any file system). The entry, attribute and negative-lookup timeouts are
 * 0 and files are opened with direct_io, so every call of the next run goes to this process
 * again: each stat, open and failed lookup of a start-up is one "round trip".
 *
 * Built by benchmarks/bench_startup.py with `cc slowfs.c $(pkg-config --cflags --libs fuse3)`
 * (Debian: libfuse3-dev fuse3, which `make test-deps` installs).
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

static const char *source;
static long latency_us;

static void delay(void) {
    if (latency_us > 0) {
        struct timespec ts = {latency_us / 1000000, (latency_us % 1000000) * 1000};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        }
    }
}

static int real(char *out, const char *path) {
    int n = snprintf(out, PATH_MAX, "%s%s", source, path);
    return n > 0 && n < PATH_MAX ? 0 : -ENAMETOOLONG;
}

static void *slow_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
    (void)conn;
    cfg->use_ino = 1;
    cfg->entry_timeout = 0;
    cfg->attr_timeout = 0;
    cfg->negative_timeout = 0;
    cfg->direct_io = 1;
    cfg->kernel_cache = 0;
    return NULL;
}

static int slow_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    char p[PATH_MAX];
    int r = real(p, path);
    delay();
    if (r) return r;
    if (fi) return fstat((int)fi->fh, st) == -1 ? -errno : 0;
    return lstat(p, st) == -1 ? -errno : 0;
}

static int slow_access(const char *path, int mask) {
    char p[PATH_MAX];
    int r = real(p, path);
    delay();
    if (r) return r;
    if (mask & W_OK) return -EROFS;
    return access(p, mask) == -1 ? -errno : 0;
}

static int slow_readlink(const char *path, char *buf, size_t size) {
    char p[PATH_MAX];
    int r = real(p, path);
    delay();
    if (r) return r;
    ssize_t n = readlink(p, buf, size - 1);
    if (n == -1) return -errno;
    buf[n] = '\0';
    return 0;
}

static int slow_open(const char *path, struct fuse_file_info *fi) {
    char p[PATH_MAX];
    int r = real(p, path);
    delay();
    if (r) return r;
    if ((fi->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
    int fd = open(p, fi->flags & ~(O_CREAT | O_TRUNC | O_APPEND));
    if (fd == -1) return -errno;
    fi->fh = (uint64_t)fd;
    fi->direct_io = 1;
    fi->keep_cache = 0;
    return 0;
}

static int slow_read(const char *path, char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi) {
    (void)path;
    ssize_t n = pread((int)fi->fh, buf, size, off);
    return n == -1 ? -errno : (int)n;
}

static int slow_release(const char *path, struct fuse_file_info *fi) {
    (void)path;
    close((int)fi->fh);
    return 0;
}

static int slow_opendir(const char *path, struct fuse_file_info *fi) {
    char p[PATH_MAX];
    int r = real(p, path);
    delay();
    if (r) return r;
    DIR *d = opendir(p);
    if (!d) return -errno;
    fi->fh = (uint64_t)(uintptr_t)d;
    return 0;
}

static int slow_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                        struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
    (void)path;
    (void)off;
    (void)flags;
    DIR *d = (DIR *)(uintptr_t)fi->fh;
    struct dirent *e;
    delay();
    rewinddir(d);
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        memset(&st, 0, sizeof st);
        st.st_ino = e->d_ino;
        st.st_mode = (mode_t)(DTTOIF(e->d_type));
        if (fill(buf, e->d_name, &st, 0, 0)) break;
    }
    return 0;
}

static int slow_releasedir(const char *path, struct fuse_file_info *fi) {
    (void)path;
    closedir((DIR *)(uintptr_t)fi->fh);
    return 0;
}

static int slow_statfs(const char *path, struct statvfs *st) {
    char p[PATH_MAX];
    int r = real(p, path);
    delay();
    if (r) return r;
    return statvfs(p, st) == -1 ? -errno : 0;
}

static const struct fuse_operations ops = {
    .init = slow_init,
    .getattr = slow_getattr,
    .access = slow_access,
    .readlink = slow_readlink,
    .open = slow_open,
    .read = slow_read,
    .release = slow_release,
    .opendir = slow_opendir,
    .readdir = slow_readdir,
    .releasedir = slow_releasedir,
    .statfs = slow_statfs,
};

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s SOURCE MOUNTPOINT LATENCY_US [FUSE OPTIONS...]\n", argv[0]);
        return 2;
    }
    static char resolved[PATH_MAX];
    if (!realpath(argv[1], resolved)) {
        perror(argv[1]);
        return 2;
    }
    source = resolved;
    latency_us = strtol(argv[3], NULL, 10);
    /* fuse's own arguments: the program name, the mount point, read-only, then the rest */
    char *fargv[64];
    int fargc = 0;
    fargv[fargc++] = argv[0];
    fargv[fargc++] = argv[2];
    fargv[fargc++] = "-o";
    fargv[fargc++] = "ro,default_permissions,allow_other";
    for (int i = 4; i < argc && fargc < 63; i++) fargv[fargc++] = argv[i];
    fargv[fargc] = NULL;
    return fuse_main(fargc, fargv, &ops, NULL);
}
