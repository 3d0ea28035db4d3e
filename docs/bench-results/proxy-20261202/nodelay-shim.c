#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
static void nd(int fd){int one=1;setsockopt(fd,IPPROTO_TCP,TCP_NODELAY,&one,sizeof one);}
int connect(int fd,const struct sockaddr*a,socklen_t l){static int(*r)(int,const struct sockaddr*,socklen_t);if(!r)r=dlsym(RTLD_NEXT,"connect");int x=r(fd,a,l);nd(fd);return x;}
int accept(int fd,struct sockaddr*a,socklen_t*l){static int(*r)(int,struct sockaddr*,socklen_t*);if(!r)r=dlsym(RTLD_NEXT,"accept");int x=r(fd,a,l);if(x>=0)nd(x);return x;}
int accept4(int fd,struct sockaddr*a,socklen_t*l,int f){static int(*r)(int,struct sockaddr*,socklen_t*,int);if(!r)r=dlsym(RTLD_NEXT,"accept4");int x=r(fd,a,l,f);if(x>=0)nd(x);return x;}
