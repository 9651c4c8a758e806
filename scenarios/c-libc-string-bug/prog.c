/* A parts inventory: parts are registered with a code and a storage bin, then restocked
   by code. Restocking BRKT-017 says there is no such part, though it was registered. */
#include <stdio.h>
#include <string.h>

struct part {
    char code[8];
    char bin[4];
    int count;
};

static struct part parts[3];
static int nparts;

static void add_part(const char *code, const char *bin, int count)
{
    struct part *p = &parts[nparts++];
    strncpy(p->code, code, sizeof p->code);  /* bug: an 8-character code leaves no terminator */
    strncpy(p->bin, bin, sizeof p->bin - 1);
    p->count = count;
}

static struct part *find_part(const char *code)
{
    for (int i = 0; i < nparts; i++)
        if (strcmp(parts[i].code, code) == 0)
            return &parts[i];
    return NULL;
}

static void restock(const char *code, int count)
{
    struct part *p = find_part(code);
    if (p == NULL) {
        printf("restock %s: no such part\n", code);
        return;
    }
    p->count += count;
    printf("restock %s: %d in bin %s\n", code, p->count, p->bin);
}

int main(void)
{
    add_part("HNG-3", "A1", 12);
    add_part("BRKT-017", "A3", 4);
    add_part("SCR-M4", "B2", 250);
    restock("HNG-3", 6);
    restock("BRKT-017", 20);
    restock("SCR-M4", 100);
    return 0;
}
