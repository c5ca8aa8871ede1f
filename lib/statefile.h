/* statefile.h: files in state_dir shared by every worker process: opened
 * 0600 (the directory made 0700 when missing) and guarded by open-file-
 * description locks, which the kernel drops when their holder dies. */
#ifndef GW_STATEFILE_H
#define GW_STATEFILE_H

/* Opens dir/name read-write, creating it 0600, and dir 0700 when missing
 * (another process making dir at the same time is fine). Symbolic links
 * are refused. Returns the fd, or -1 with errno. */
int statefile_open(const char *dir, const char *name);

/* Locks the whole file: type F_WRLCK or F_RDLCK waits for the lock, F_UNLCK
 * releases it. Returns 0, or -1 with errno. */
int statefile_lock(int fd, short type);

#endif
