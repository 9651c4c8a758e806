/* An address book: three contacts are added, then listed with their city. The listing
   crashes, long after the damage was done. */
#include <stdio.h>
#include <string.h>

struct address {
    const char *street;
    const char *city;
};

struct contact {
    char name[16];
    struct address *home;
};

static struct address mill = { "Old Mill Lane 4", "Shelbyville" };
static struct address main_st = { "Main Street 12", "Springfield" };
static struct address harbour = { "Harbour Road 7", "Capital City" };

static struct contact book[3];
static int count;

static void add_contact(const char *name, struct address *home)
{
    struct contact *c = &book[count++];
    c->home = home;
    strcpy(c->name, name);  /* bug: no room check: a long name runs on into c->home */
}

static int longest_name(void)
{
    int longest = 0;
    for (int i = 0; i < count; i++) {
        int len = strlen(book[i].name);
        if (len > longest)
            longest = len;
    }
    return longest;
}

static void list_contacts(void)
{
    for (int i = 0; i < count; i++) {
        struct contact *c = &book[i];
        printf("%-16.16s %s\n", c->name, c->home->city);
    }
}

int main(void)
{
    add_contact("Ada Lovelace", &mill);
    add_contact("Bartholomew Featherstonehaugh", &harbour);
    add_contact("Charles Babbage", &main_st);
    printf("%d contacts, longest name %d letters\n", count, longest_name());
    list_contacts();
    return 0;
}
