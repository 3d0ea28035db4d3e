import os,time,sys
out=open(sys.argv[1],'w'); hz=os.sysconf('SC_CLK_TCK')
end=time.time()+float(sys.argv[2])
while time.time()<end:
    t=time.time()
    for pid in os.listdir('/proc'):
        if not pid.isdigit(): continue
        try:
            cmd=open(f'/proc/{pid}/cmdline','rb').read().replace(b'\0',b' ').decode(errors='replace')
            if 'sallyport.mjs' not in cmd and 'workerd' not in cmd and 'iperf3' not in cmd: continue
            f=open(f'/proc/{pid}/stat').read().rsplit(')',1)[1].split()
            cpu=(int(f[11])+int(f[12]))/hz
            role='client' if ' client ' in cmd else 'dev' if ' dev ' in cmd else 'workerd' if 'workerd' in cmd else 'iperf3' if 'iperf3' in cmd else 'other'
            out.write(f"{t:.2f} {pid} {role} {cpu}\n")
        except Exception: pass
    out.flush(); time.sleep(0.1)
