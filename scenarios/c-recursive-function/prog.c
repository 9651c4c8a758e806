/* Size of a directory tree: each folder has its own size and up to two subfolders.
   The total is short by the size of one nested folder. */
#include <stdio.h>

struct folder {
    const char *name;
    int size;
    struct folder *left, *right;
};

static struct folder a = { "a", 5, NULL, NULL };
static struct folder b = { "b", 7, NULL, NULL };
static struct folder gen = { "gen", 40, NULL, NULL };
static struct folder docs = { "docs", 20, &a, &b };
static struct folder src = { "src", 30, NULL, &gen };
static struct folder root = { "root", 10, &docs, &src };

static int total(const struct folder *f)
{
    if (f->left == NULL)  /* bug: a folder with only a right subfolder counts as a leaf */
        return f->size;
    int left = total(f->left);
    int right = 0;
    if (f->right != NULL)
        right = total(f->right);
    return f->size + left + right;
}

int main(void)
{
    int size = total(&root);
    printf("total size %d\n", size);
    return 0;
}
