"""limo_rl.loop"""
